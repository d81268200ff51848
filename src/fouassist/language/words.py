"""The Swedish and Norwegian language pack: every word list the assistant uses, each named once.

Languages are "sv" (Swedish), "nb" (Norwegian Bokmål) and "nn" (Nynorsk). A list keyed by
language holds each language's own words; a list that is not keyed mixes them, because a question
or a document may mix them too (some lists also hold the English words that web pages and
prompt injections use). Entries called fragments are pieces of regular expressions
("styre[tn]?"), joined with `one_of` where the list is used; all other entries are plain words in
lower case unless their list says otherwise. Nynorsk has few resources of its own (word
frequencies, prompts, sentence models, interface texts): `resource_language` says which language
serves it.
"""

from __future__ import annotations

from collections.abc import Iterable


def resource_language(language: str) -> str:
    """The language whose resources serve `language`: Bokmål's for Bokmål and Nynorsk, Swedish's
    for anything else."""
    return "nb" if language in ("nb", "nn") else "sv"


def one_of(fragments: Iterable[str]) -> str:
    """A regular expression that matches any of the fragments: "(?:a|b|c)"."""
    return "(?:" + "|".join(fragments) + ")"


# -- analysis: stop words, question framing, language detection ---------------------------------------

# Words of the stop-words package's lists that carry meaning in strategy documents; they are indexed.
STOPWORDS_KEPT = frozenset({
    "beslut", "beslutat", "beslutit", "del", "delen", "dag", "dagar", "dagen", "nummer", "tid",
    "viktig", "viktiga", "viktigt", "hög", "högre", "högst", "god", "goda", "gott", "bättre",
    "nödvändig", "nödvändiga", "nödvändigt", "möjlig", "möjligt", "tidig", "tidigt", "tidigare",
    "stor", "stora", "större", "störst", "samma", "själv", "tillsammans",
})
# Stop words the stop-words package lacks: "sv" added to its Swedish list, "nb" to its Norwegian one
# (with the number words, which the Swedish list already has), and "nn" the Nynorsk forms, added
# to the whole Bokmål list.
STOPWORDS_ADDED = {
    "sv": frozenset({"hos", "samt", "bl", "a", "t", "ex", "s", "k", "m", "fl", "vår", "via"}),
    "nb": frozenset({"hos", "samt", "f", "eks", "bl", "a", "m", "v", "via", "blant", "annet", "sier",
                     "to", "tre", "fire", "fem", "seks", "sju", "syv", "åtte", "ni", "ti"}),
    "nn": frozenset({
        "kva", "korleis", "kven", "kvar", "kvifor", "seier", "òg", "frå", "ein", "eit", "dei", "vert",
        "vart", "noko", "nokon", "mykje", "eg", "ho", "berre", "ikkje", "vere", "vore", "sine", "sitt",
        "dette", "desse", "denne", "meir", "mest", "også", "når", "kor", "kan", "skal", "vil", "må",
    }),
}

# Words that frame a question about a document rather than ask about something in it. They
# still help ranking a little but never count as the question's content.
FRAME_WORDS = {
    "sv": frozenset({
        "vad", "säga", "säger", "stå", "står", "skriva", "skriver", "nämna", "nämner", "beskriva",
        "strategi", "strategin", "plan", "planen", "dokument", "dokumentet", "dokumenten", "text",
        "texten", "fråga", "frågan", "kring", "gälla", "gäller",
        "finnas", "finns", "framgå", "framgår", "tas", "ta", "upp", "region", "regionen",
    }),
    "nb": frozenset({
        "hva", "si", "sier", "stå", "står", "skrive", "skriver", "nevne", "nevner", "beskrive",
        "strategi", "strategien", "plan", "planen", "dokument", "dokumentet", "dokumentene", "tekst",
        "teksten", "spørsmål", "gjelde", "gjelder", "finnes", "fremgå", "fremgår",
        "ta", "tar", "opp", "region", "regionen",
    }),
}
FRAME_WORDS["nn"] = FRAME_WORDS["nb"] | {"kva", "seier", "seie", "dokumenta", "strategien", "finst"}

# Function words that belong to one language only (shared ones such as "av", "med", "eller"
# tell nothing): what language detection counts. Nynorsk shares most of Bokmål's; it is told
# apart by its own.
LANGUAGE_MARKERS = {
    "sv": frozenset({
        "och", "att", "är", "inte", "vad", "hur", "vilka", "vilken", "vilket", "vem", "varför", "säger",
        "också", "finns", "från", "när", "än", "jag", "måste", "mycket", "någon", "något", "några",
        "för", "ska", "även", "vara", "dessa", "sådan", "sådana", "bara", "blev",
    }),
    "nb": frozenset({
        "og", "er", "ikke", "hva", "hvordan", "hvilke", "hvilken", "hvilket", "hvem", "hvorfor", "hvor",
        "sier", "også", "finnes", "mellom", "fra", "når", "enn", "ble", "jeg", "mye", "noen", "noe",
        "skal", "være", "disse", "slik", "bare", "blitt", "til", "å",
    }),
    "nn": frozenset({
        "og", "er", "ikkje", "kva", "korleis", "kven", "kvar", "kvifor", "seier", "òg", "frå", "ein",
        "eit", "dei", "vert", "noko", "nokon", "mykje", "eg", "berre", "meir", "desse", "skal",
        "til", "å",
    }),
}

# Abbreviations after which a period never ends a sentence (lower case, without the last period).
SENTENCE_ABBREVIATIONS = {
    "sv": frozenset({
        "s.k", "enl", "inkl", "exkl", "kap", "t.ex", "bl.a", "m.fl", "m.m", "ca", "dvs", "d.v.s", "resp", "osv",
        "o.s.v", "jfr", "p.g.a", "ang", "nr", "st", "f.d", "t.o.m", "fr.o.m", "prof", "dr", "ex", "mom",
        "prop", "sfs", "vs", "e.d", "o.d", "kl", "s", "jan", "feb", "aug", "sept", "okt", "nov", "dec",
    }),
    "nb": frozenset({
        "f.eks", "bl.a", "m.fl", "m.m", "ca", "dvs", "d.v.s", "osv", "o.l", "jf", "pga", "ang", "nr", "st",
        "kap", "prof", "dr", "mht", "vedr", "iht", "ifm", "evt", "inkl", "ekskl", "kl", "s", "jan", "feb",
        "aug", "sept", "okt", "nov", "des",
    }),
}
SENTENCE_ABBREVIATIONS["nn"] = SENTENCE_ABBREVIATIONS["nb"] | {"t.d", "m.a", "o.a"}

# -- dates ---------------------------------------------------------------------------------------------

# Month names, Swedish and Norwegian, with their numbers; and their abbreviations in dates.
MONTHS = {
    "januari": 1, "januar": 1, "februari": 2, "februar": 2, "mars": 3, "april": 4, "maj": 5, "mai": 5,
    "juni": 6, "juli": 7, "augusti": 8, "august": 8, "september": 9, "oktober": 10, "november": 11,
    "december": 12, "desember": 12,
}
MONTH_ABBREVIATIONS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "okt": 10,
    "nov": 11, "dec": 12, "des": 12,
}
# Seasons as a time of year ("hösten 2025").
SEASONS = ("våren", "hösten", "høsten", "sommaren", "sommeren", "vintern", "vinteren")
# Labels before the date a document states about itself ("Publisert 13.06.2023", "Datum 2025-05-22").
DATE_LABELS = (
    "datum", "dato", "publicerad", "publicerat", "publicerades", "publisert", "publisert den", "beslutad",
    "beslutat", "beslutades", "fastställd", "fastställt", "antagen", "antaget", "godkänd", "godkänt",
    "vedtatt", "vedteke", "godkjent", "uppdaterad", "senast uppdaterad", "oppdatert", "sist oppdatert",
    "giltig från", "gäller från",
)

# -- what a question asks for (the answer type), and how a sentence gives it ----------------------------

# A question's first words, also after "och"/"og" ("vem … och när"), that ask for a date, a
# person or body, or a list (fragments).
DATE_QUESTION_WORDS = ("när", "når", "kva tid")
PERSON_QUESTION_WORDS = ("vem", "vilka personer", "hvem", "kven")
LIST_QUESTION_WORDS = ("vilka", "hvilke", "kva for nokre")
# Phrases anywhere in a question that ask for an amount, a date or a person (fragments).
AMOUNT_CUES = (
    "hur många", "hur mycket", "hur stor[at]? (?:andel|del|summa|budget)", "vilket belopp", "hvor mange",
    "hvor mye", "hvor stor[et]? (?:andel|del|sum|budsjett)", "hvilket beløp", "kor mange", "kor mykje",
)
DATE_CUES = ("vilket datum", "vilken dag", "vilket år", "hvilken dato", "hvilken dag", "hvilket år", "vilken månad",
             "hvilken måned")
PERSON_CUES = ("av vem", "av hvem")
# "Which" before the thing a question asks about ("vilken X"; fragments).
WHICH_WORDS = ("vilken", "vilket", "vilka", "hvilken", "hvilket", "hvilke", "kva for(?: ein| eit| nokre)?")
# Two or three, after a list question word ("vilka två planer").
FEW_WORDS = ("två", "tre", "2", "3", "to")
# Numbers and shares written in words (fragments).
NUMBER_WORDS = (
    "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio", "tio", "tolv", "tjugo", "hundra", "tusen",
    r"miljon\w*", r"miljard\w*", "procent", "hälften", "to", "fire", "seks", "syv", "åtte", "ti", "hundre",
    r"million\w*", r"milliard\w*", "prosent", "halvparten",
)
# A chapter in a law reference ("10 kap 5 §"; fragments).
CHAPTER_WORDS = (r"kap\.?", "kapitlet")
# Parts of words that name a body that decides or answers ("styrelsen", "Helsedirektoratet"; fragments).
BODY_WORDS = (
    "direktör", "direktør", "styrelse", "styre[tn]?", "nämnd", "nemnd", "ledning", "ledelse", "chef", "råd(?:et)?",
    "fullmäktige", "regering", "regjering", "departement", "förbund", "forbund", "kommitté", "komité", "utskott",
    "ledningsgrupp", "ordförande", "leder", "ansvarig",
)
# "And"; with "samt", what joins the last item of a list or two names ("Uppsala och Örebro").
AND_WORDS = ("och", "og")
LIST_JOINING_WORDS = (*AND_WORDS, "samt")
# Capitalised words that open a sentence going on with the one before ("Detta ska ske genom ...").
CONTINUATION_WORDS = ("Detta", "Dette", "Dessa", "Disse", "Därigenom", "Dermed", "Härigenom", "Herigjennom")

# -- what the documents leave open -----------------------------------------------------------------------

# Words that join the parts of a phrase the question asks about ("lön för ST-läkare").
PHRASE_JOINERS = frozenset({"för", "av", "i", "om", "till", "med", "på", "vid", "inom", "mellan", "for", "til",
                            "ved", "innen", "mellom", "og", "och"})
INDEFINITE_ARTICLES = frozenset({"en", "ett", "ei", "et", "eit"})
# Modal verbs: an infinitive follows them and their subject ("skal helseforetakene redusere").
MODAL_VERBS = frozenset({"ska", "skall", "skal", "kan", "bör", "bør", "måste", "må", "vill", "vil", "skulle",
                         "kunne", "kunna"})
# Forms of "cost": a question about a price ("Vad kostar …").
COST_VERBS = frozenset({"kosta", "kostar", "kostade", "kostat", "koste", "koster", "kostet"})

# -- follow-up questions -----------------------------------------------------------------------------------

# Words after which a question names its topic ("... om forskningstid?"; fragments).
TOPIC_CUES = ("om", "angående", "kring", "gällande", "beträffande", "rörande", "rundt", "vedrørende", "angåande",
              "når det gjelder", "när det gäller")
# How a follow-up question opens ("Och i Mellansverige?"), in lower case with a following space
# where the cue is a whole word.
FOLLOW_UP_CUES = {
    "sv": ("och ", "men ", "samt ", "än ", "hur är det med", "vad gäller", "gäller det", "också ", "vad med",
           "och vad"),
    "nb": ("og ", "men ", "enn ", "hva med", "hvordan er det med", "gjelder det", "også ", "når det gjelder", "og hva"),
    "nn": ("og ", "men ", "enn ", "kva med", "korleis er det med", "gjeld det", "òg ", "og kva"),
}

# -- organisations ---------------------------------------------------------------------------------------

# Capitalised words that open an organisation's name ("Region Uppsala", "Helse Nord").
ORGANISATION_PREFIXES = ("Sjukvårdsregion", "Region", "Helse", "Landstinget", "Samverkansnämnden")
# Words of organisation names that do not single out one organisation.
GENERIC_ORGANISATION_WORDS = frozenset({
    "region", "sjukvårdsregion", "helse", "landsting", "läns", "län", "samverkansnämnd", "hf", "kommun", "kommune",
    "fylkeskommune", "universitetssykehus", "hospital",
})

# -- extracted text ---------------------------------------------------------------------------------------

# Lines of web pages that are navigation or layout, not text (fragments, with English).
NAVIGATION_LINES = (
    "gå direkt till innehåll(?:et)?", "hoppa till (?:huvud)?innehåll(?:et)?", "till huvudinnehåll",
    "gå til (?:hoved)?innhold(?:et)?", "hopp til (?:hoved)?innhold(?:et)?", "til hovedinnhold",
    "skip to (?:main )?content", r"logo\b.*", r"nyhet\s*[-–]?", "meny", "menu", "sök", "søk", "dela", "share",
    "skriv ut", "print",
)
# "Page" before a page number, and "of" in "3 av 12" (fragments, with English).
PAGE_WORDS = ("sida", "side", "page", r"s\.")
PAGE_OF_WORDS = ("av", "of")
# Words after a line-final hyphen that show it is a suspended compound ("hälso- och"), with English.
SUSPENSION_WORDS = frozenset({"och", "eller", "samt", "som", "till", "og", "til", "respektive", "resp", "and", "or"})
# Titles that a program left in a file's metadata, not the document's own (lower case, with English).
PLACEHOLDER_TITLES = frozenset({"untitled", "untitled document", "document", "dokument", "namnlös"})

# -- the language model ---------------------------------------------------------------------------------

# Text that addresses the model rather than the reader ("ignorera tidigare instruktioner";
# fragments, with English): a verb of disregarding, what it disregards, and a new role.
INSTRUCTION_VERBS = ("ignorera", "ignorer", "ignore", "bortse fr[åa]n", "glöm", "glem", "forget")
INSTRUCTION_OBJECTS = (r"instruktion\w*", r"instruksjon\w*", "instructions?", "regler", r"regl\w*", "rules?")
ROLE_PHRASES = ("du är nu", "du er nå", "you are now")
