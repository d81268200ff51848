"""What an extractive answer says besides its quotes, per answer language, and how it writes the
documents' own words (titles, quotes) so that the reader always sees where they begin and end."""

from __future__ import annotations

# Everything the answer says besides the quotes, per answer language.
TEMPLATES = {
    "sv": {
        "according": "Enligt {source}:", "section": "avsnitt {n}", "sections": "avsnitten {n}", "and": "och",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "”{q}”", "title": "dokumentet ”{t}”",
        "cost": "vad {x} kostar",
        "nothing": "Dokumenten säger inget om {missing}.",
        "mentioned": "Dokumenten nämner {mentioned}, men säger inget om {missing}.",
        "unanswered": "Dokumenten tar upp {mentioned}, men inget ställe i dem svarar på frågan.",
        "unanswered_plain": "Inget ställe i dokumenten svarar på frågan.",
        "closest": "Närmaste träffar (de svarar inte på frågan):",
        "no_words": "Frågan innehåller inga ord att söka på. Ställ en fråga om innehållet i dokumenten.",
    },
    "nb": {
        "according": "Ifølge {source}:", "section": "avsnitt {n}", "sections": "avsnittene {n}", "and": "og",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "«{q}»", "title": "dokumentet «{t}»",
        "cost": "hva {x} koster",
        "nothing": "Dokumentene sier ikke noe om {missing}.",
        "mentioned": "Dokumentene nevner {mentioned}, men sier ikke noe om {missing}.",
        "unanswered": "Dokumentene tar opp {mentioned}, men ingen steder i dem svarer på spørsmålet.",
        "unanswered_plain": "Ingen steder i dokumentene svarer på spørsmålet.",
        "closest": "Nærmeste treff (de svarer ikke på spørsmålet):",
        "no_words": "Spørsmålet inneholder ingen ord å søke på. Still et spørsmål om innholdet i dokumentene.",
    },
    "nn": {
        "according": "Ifølgje {source}:", "section": "avsnitt {n}", "sections": "avsnitta {n}", "and": "og",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "«{q}»", "title": "dokumentet «{t}»",
        "cost": "kva {x} kostar",
        "nothing": "Dokumenta seier ikkje noko om {missing}.",
        "mentioned": "Dokumenta nemner {mentioned}, men seier ikkje noko om {missing}.",
        "unanswered": "Dokumenta tek opp {mentioned}, men ingen stader i dei svarar på spørsmålet.",
        "unanswered_plain": "Ingen stader i dokumenta svarar på spørsmålet.",
        "closest": "Næraste treff (dei svarar ikkje på spørsmålet):",
        "no_words": "Spørsmålet inneheld ingen ord å søkje på. Still eit spørsmål om innhaldet i dokumenta.",
    },
}
# Inside quoted text, what could close the quote or pose as a citation marker is replaced by a
# look-alike that cannot: the reader always knows where the document's words end.
_NEUTRAL = str.maketrans({"”": "’", "“": "‘", "„": "‚", '"': "'", "«": "‹", "»": "›", "[": "［", "]": "］"})
TITLE_CHARS = 120


def neutral(text: str) -> str:
    """Document text as the answer quotes it: no quotation marks or [n] of its own, one line."""
    return " ".join(text.translate(_NEUTRAL).split())


def shortened(text: str, limit: int = TITLE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
