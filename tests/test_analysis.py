"""Swedish/Norwegian lexical analysis: tokens, lemmas, compound parts, stop words, language."""

import pytest

from fouassist.analysis import Analyzer, split_compound, term_key, tokens


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


# (language, word, expected lemma, expected compound parts)
TABLE = [
    ("sv", "forskningstid", "forskningstid", ("forskning", "tid")),
    ("sv", "forskningstiden", "forskningstid", ("forskning", "tid")),
    ("sv", "kompetensförsörjning", "kompetensförsörjning", ("kompetens", "försörjning")),
    ("sv", "kompetensförsörjningen", "kompetensförsörjning", ("kompetens", "försörjning")),
    ("sv", "forskningsinfrastruktur", "forskningsinfrastruktur", ("forskning", "infrastruktur")),
    ("sv", "patientsäkerhet", "patientsäkerhet", ("patient", "säkerhet")),
    ("sv", "hälsodata", "hälsodata", ("hälsa", "data")),
    ("sv", "sjukvårdsregionen", "sjukvårdsregion", ("sjukvård", "region")),
    ("sv", "universitetssjukvården", "universitetssjukvård", ("universitet", "sjukvård")),
    ("sv", "samverkansavtal", "samverkansavtal", ("samverkan", "avtal")),
    ("sv", "läkemedelsföretag", "läkemedelsföretag", ("läkemedel", "företag")),
    ("sv", "innovationsmotorn", "innovationsmotor", ("innovation", "motor")),
    ("sv", "life-science-industrin", "life-science-industri", ("life", "science", "industri")),
    ("sv", "näringslivet", "näringsliv", ()),
    ("sv", "utbildningar", "utbildning", ()),
    ("sv", "medarbetarna", "medarbetare", ()),
    ("sv", "kliniska", "klinisk", ()),
    ("sv", "läkarnas", "läkare", ()),
    ("sv", "stockholms", "stockholm", ()),
    ("nb", "forskningstid", "forskningstid", ("forskning", "tid")),
    ("nb", "helseforetakene", "helseforetak", ("helse", "foretak")),
    ("nb", "handlingsplanene", "handlingsplan", ("handling", "plan")),
    ("nb", "pasientsikkerhet", "pasientsikkerhet", ("pasient", "sikkerhet")),
    ("nb", "satsingsområder", "satsingsområde", ("satsing", "område")),
    ("nb", "helseregionen", "helseregion", ("helse", "region")),
    ("nb", "forskningssamarbeid", "forskningssamarbeid", ("forskning", "samarbeid")),
    ("nb", "innovasjonsrådgivere", "innovasjonsrådgiver", ("innovasjon", "rådgiver")),
    ("nb", "sykehusene", "sykehus", ()),
    ("nb", "kunnskapen", "kunnskap", ()),
    ("nb", "forskere", "forsker", ()),
    ("nb", "ansatte", "ansatt", ()),
]


@pytest.mark.parametrize(("lang", "word", "lemma", "parts"), TABLE)
def test_lemma_and_compound_parts(analyzer, lang, word, lemma, parts):
    terms = analyzer.word_terms(word, lang)
    assert terms[0] == (lemma, 1.0)
    assert tuple(t for t, _ in terms[1:]) == parts
    assert all(weight == 0.5 for _, weight in terms[1:])


@pytest.mark.parametrize("word", ["sjukvård", "landsting", "personal", "forskning", "region", "person"])
def test_common_words_are_not_split(word):
    assert split_compound(word, "sv") == ()


def test_tokens_keep_diacritics_and_split_footnote_marks():
    assert tokens("Näringslivet och FØRSKNINGEN på Ålands sjukhus") == ["näringslivet", "och", "førskningen", "på", "ålands", "sjukhus"]
    assert tokens("klinisk1 som (VIL)2 i avsnitt 5.1.5, 2025-2028") == ["klinisk", "1", "som", "vil", "2", "i", "avsnitt", "5.1.5", "2025-2028"]


def test_stop_words_carry_no_terms(analyzer):
    assert analyzer.term_weights("och att det är som för", "sv") == {}
    assert analyzer.term_weights("og at det er som for ikke", "nb") == {}
    assert analyzer.term_weights("ikkje kva korleis", "nn") == {}
    assert analyzer.term_weights("tid", "sv") == {"tid": 1.0}  # a word with meaning here is kept


def test_norwegian_and_swedish_spellings_meet_in_the_index():
    assert term_key("næringsliv") == term_key("näringsliv")
    assert term_key("innovasjon") == term_key("innovation")
    assert term_key("førskning") == "förskning"


def test_the_three_phrasings_of_research_time_share_terms(analyzer):
    compound = set(analyzer.term_weights("forskningstid", "sv"))
    swedish = set(analyzer.term_weights("tid för forskning", "sv"))
    norwegian = set(analyzer.term_weights("tid til forskning", "nb"))
    assert swedish == norwegian == {"tid", "forskning"}
    assert swedish <= compound


@pytest.mark.parametrize(("text", "language"), [
    ("Vad säger strategin om forskningstid?", "sv"),
    ("Hva sier planen om samarbeid med industrien?", "nb"),
    ("Hvor mange innovasjonsklinikker skal opprettes i Västerbotten?", "nb"),
    ("Hva menes med verksamhetsintegrerat lärande (VIL) i Stockholm-strategien?", "nb"),
    ("Kva seier planen om forsking og korleis skal ho følgjast opp?", "nn"),
    ("Och i Mellansverige?", "sv"),
    ("Og i Mellansverige?", "nb"),
])
def test_language_of_questions(analyzer, text, language):
    assert analyzer.detect_language(text) == language


def test_query_concepts_drop_question_words_of_either_language(analyzer):
    query = analyzer.analyze_query("Hva sier Region Stockholms strategi om forskningstid?")
    assert query.language == "nb"
    assert [c.surface for c in query.content] == ["stockholms", "forskningstid"]
    assert {c.surface for c in query.concepts if c.frame} >= {"strategi"}
