"""Reading documents: clean-up of extraction artefacts, loaders, metadata found in the text."""

import io
from pathlib import Path

import pytest
from conftest import CORPUS, MANIFEST

from fouassist.ingest.cleaning import clean_pages, join_hyphenated
from fouassist.ingest.documents import load_manifest, read_document, read_file
from fouassist.ingest.metadata import find_date, find_organisation
from fouassist.ingest.read_limits import DocumentError
from fouassist.language.analysis import Analyzer


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


@pytest.fixture(scope="module")
def corpus(analyzer):
    manifest = load_manifest(MANIFEST)
    return {p.name[:3]: read_file(p, analyzer, manifest) for p in sorted(CORPUS.glob("*.txt"))}


# -- clean-up ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("left", "right", "joined"), [
    ("kompetensutveckling och utbild-", "ning för alla", "kompetensutveckling och utbildning för alla"),
    ("Genom att medverka i grund-", ", specialist- och forskarutbildning", "Genom att medverka i grund-, specialist- och forskarutbildning"),
    ("inom Region Stockholm hälso-", "och sjukvård", "inom Region Stockholm hälso- och sjukvård"),
    ("en av världens främsta life-science-", "regioner.", "en av världens främsta life-science-regioner."),
    ("statlig ersättning (ALF-", "medel och VIL-ersättning)", "statlig ersättning (ALF-medel och VIL-ersättning)"),
    ("vanlig rad", "fortsätter här", "vanlig rad fortsätter här"),
])
def test_hyphenation_across_line_ends(left, right, joined):
    assert join_hyphenated(left, right) == joined


def test_wrapped_pdf_text_becomes_paragraphs_headings_and_lists():
    page = (
        " 1. Inledning  \nRegion Stockholms verksamheter behöver ständigt utvecklas för att kunna \n"
        "leverera tjänster till invånare. Genom att medverka i grund-\n, specialist- och forskarutbildning \n"
        "säkerställs tillgång till välutbildade medarbetare.  \n \n"
        "Region Stockholms målsättning är att forskningen ska leda till genombrott som:  \n\n"
        " förebygger sjukdom, räddar liv och botar sjukdomar \n möjliggör tidig upptäckt av ohälsa \n\n"
        "1 Med klinisk forskning avses sådan forskning som förutsätter vårdens strukturer. \n"
        "2 Verksamhetsintegrerat lärande (VIL) är ett samlingsbegrepp. \n"
        " 2. Syfte \nStrategin syftar till att skapa goda förutsättningar för forskning, utbild-\n"
        "ning och utveckling i regionens verksamheter och att stärka \nsamverkan med näringslivet.\n\n"
        "2.1  I Region Stockholm ska en nyfikenhetsdriven kultur, \nkompetens, forskningstid och infrastruktur skapa \n"
        "förutsättningar för medicinska genombrott \nHälso- och sjukvården behöver utvecklas. Det gäller \n"
        "också tandvården \uf0b7 och vården i stort.\n"
    )
    text, blocks, _ = clean_pages([page])
    kinds = [(b.kind, b.number) for b in blocks]
    assert kinds[0] == ("heading", "1")
    assert ("heading", "2") in kinds and ("heading", "2.1") in kinds
    assert not any(b.number in ("1", "2") and b.kind == "heading" and "klinisk" in b.text for b in blocks)  # footnotes
    assert "grund-, specialist- och forskarutbildning" in text
    assert "utbildning och utveckling" in text
    items = [b.text for b in blocks if b.kind == "item"]
    assert items == ["förebygger sjukdom, räddar liv och botar sjukdomar", "möjliggör tidig upptäckt av ohälsa"]
    heading = next(b for b in blocks if b.number == "2.1")
    assert heading.text == ("I Region Stockholm ska en nyfikenhetsdriven kultur, kompetens, forskningstid "
                            "och infrastruktur skapa förutsättningar för medicinska genombrott")
    assert "\n" not in next(b for b in blocks if b.text.startswith("Region Stockholms verksamheter")).text
    for block in blocks:
        assert text[block.start:block.end] == block.text
    assert "\uf0b7" not in text


def test_web_text_keeps_each_line_a_paragraph_and_drops_navigation():
    text, blocks, _ = clean_pages(["Gå direkt till innehåll\n\nNyhet -\n\nRubrik här\n\nFörsta stycket.\nAndra stycket.\n"])
    assert [b.text for b in blocks] == ["Rubrik här", "Första stycket.", "Andra stycket."]
    assert "Gå direkt" not in text


def test_letters_are_kept():
    text, _, _ = clean_pages(["Ålesund och Øvre Eiker: sjukvården, næringslivet och försörjningen.\n"])
    assert text == "Ålesund och Øvre Eiker: sjukvården, næringslivet och försörjningen."


# -- metadata on the default corpus ----------------------------------------------------------------

def test_default_corpus_metadata(corpus):
    assert {k: d.language for k, d in corpus.items()} == {"000": "sv", "001": "nb", "002": "sv", "003": "sv", "004": "sv"}
    assert corpus["000"].title == "Målbild för ökad klinisk forskning i Sjukvårdsregion Mellansverige"
    assert corpus["000"].date == "2025-05-22"
    assert corpus["000"].organisation == "Sjukvårdsregion Mellansverige"
    assert corpus["001"].title == "Handlingsplaner for forskning og innovasjon vedtatt"
    assert corpus["001"].date == "2023-06-13"
    assert corpus["001"].organisation == "Helse Midt-Norge"
    assert corpus["004"].title == "Västerbotten som innovationsmotor"
    assert corpus["004"].organisation == "Region Västerbotten"
    # The strategy states no title line: the manifest supplies it.
    assert corpus["003"].title == "Region Stockholms forsknings-, utbildnings- och utvecklingsstrategi"
    assert all(len(d.id) == 16 for d in corpus.values())


def test_sections_of_the_stockholm_strategy(corpus):
    sections = {s.number: s for s in corpus["003"].sections if s.number}
    assert list(sections)[:4] == ["1", "2", "3", "4"]
    assert {"4.1", "4.6", "5.1", "5.1.1", "5.1.5", "5.1.7", "5.2.3", "6"} <= set(sections)
    assert sections["5.1.5"].title.startswith("I Region Stockholm ska en nyfikenhetsdriven kultur")
    assert sections["5.1.5"].level == 3
    document = corpus["003"]
    inside = document.text.index("Ledarskapet")
    assert document.section_at(inside).number == "5.1.5"
    assert [p.split()[0] for p in document.heading_path(inside)] == ["5", "5.1", "5.1.5"]


@pytest.mark.parametrize(("text", "date"), [
    ("Datum\n\n2025-05-22\n\nMålbild", "2025-05-22"),
    ("Publisert 13.06.2023\nEn gruppe", "2023-06-13"),
    ("Beslutad den 22 maj 2025 av:", "2025-05-22"),
    ("Vedtatt 2. juni 2023 i fagdirektørmøtet", "2023-06-02"),
    ("Under 2017 startade projektet", None),
])
def test_dates_stated_in_the_text(text, date):
    assert find_date(text) == date


def test_organisation_from_logo_line_and_from_frequency():
    assert find_organisation("logo Helse Midt-Norge\n\nNyhet") == "Helse Midt-Norge"
    assert find_organisation("Region Stockholms strategi. Region Stockholm ska. Region Uppsala nämns.") == "Region Stockholm"


# -- loaders ---------------------------------------------------------------------------------------

def pdf_bytes(pages: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page in pages:
        y = 800
        for line in page.split("\n"):
            pdf.drawString(60, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def test_pdf_pages_are_kept(analyzer):
    pages = [
        "Strategi för klinisk forskning\n\n1. Inledning\nForskning är viktig för vården i regionen.",
        "2. Forskningstid\nAlla läkare ska ha avsatt forskningstid i sin tjänst.",
        "3. Datadelning\nHälsodata ska delas på ett säkert sätt mellan vårdgivare.",
    ]
    document = read_document("strategi.pdf", pdf_bytes(pages), analyzer)
    assert document.format == "pdf"
    assert len(document.page_starts) == 3
    offset = document.text.index("Hälsodata ska delas")
    assert document.page_at(offset) == 3
    assert document.page_at(document.text.index("avsatt forskningstid")) == 2
    assert [s.number for s in document.sections if s.number] == ["1", "2", "3"]
    assert document.title == "Strategi för klinisk forskning"


def test_scanned_pdf_is_reported_not_indexed(analyzer):
    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    image = Image.new("RGB", (400, 200), "white")
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.drawImage(ImageReader(image), 50, 500, 400, 200)
    pdf.showPage()
    pdf.save()
    with pytest.raises(DocumentError, match="scan"):
        read_document("skannad.pdf", buffer.getvalue(), analyzer)


def encrypted_pdf() -> bytes:
    """A PDF with real text, encrypted with a password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf_bytes(["Hemlig text om forskning och utveckling i regionen."]))).pages:
        writer.add_page(page)
    writer.encrypt("hemligt")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_encrypted_pdf_is_reported(analyzer):
    with pytest.raises(DocumentError, match="encrypted"):
        read_document("hemlig.pdf", encrypted_pdf(), analyzer)


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("trasig.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "damaged"),
    ("bild.pdf", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10, "not a PDF"),
    ("binar.txt", bytes(range(256)) * 40, "binary"),
    ("rapport.txt", b"%PDF-1.4 real pdf bytes here", "is a PDF"),
    ("tom.txt", b"   \n\n", "empty"),
    ("program.exe", b"MZ\x90\x00", "unsupported file type"),
])
def test_unreadable_files_are_reported_with_the_reason(analyzer, name, data, reason):
    with pytest.raises(DocumentError, match=reason) as error:
        read_document(name, data, analyzer)
    assert error.value.source == name


def test_text_in_legacy_encodings(analyzer):
    text = "Forskning och utveckling i hälso- och sjukvården ska stärkas i hela regionen.\n"
    for encoding in ("cp1252", "utf-16", "utf-8-sig"):
        document = read_document(f"text-{encoding}.txt", text.encode(encoding), analyzer)
        assert "hälso- och sjukvården" in document.text, encoding


def test_html_markdown_and_docx(analyzer):
    html = (b"<html><head><title>Plan</title><script>var x=1;</script></head><body><nav>Meny</nav>"
            b"<h1>Handlingsplan for forskning</h1><p>Helseforetakene skal <b>styrke</b> forskningen.</p>"
            b"<ul><li>Mer forskningstid</li><li>Bedre infrastruktur</li></ul></body></html>")
    document = read_document("plan.html", html, analyzer)
    assert document.title == "Handlingsplan for forskning"
    assert "Helseforetakene skal styrke forskningen." in document.text
    assert "- Mer forskningstid\n- Bedre infrastruktur" in document.text
    assert "var x" not in document.text and "Meny" not in document.text
    assert document.language == "nb"

    markdown = "# Strategi\n\n## 1. Mål\n\nVi ska öka den kliniska forskningen i regionen.\n\n- punkt ett\n- punkt två\n"
    document = read_document("strategi.md", markdown.encode(), analyzer)
    assert document.title == "Strategi"
    assert [s.title for s in document.sections] == ["1. Mål"]

    import docx

    word = docx.Document()
    word.add_heading("Målbild för forskning", level=1)
    word.add_paragraph("Sjukvården ska ge tid för forskning till alla yrkesgrupper.")
    word.add_paragraph("Mer samverkan med industrin", style="List Bullet")
    buffer = io.BytesIO()
    word.save(buffer)
    document = read_document("malbild.docx", buffer.getvalue(), analyzer)
    assert document.title == "Målbild för forskning"
    assert "Sjukvården ska ge tid för forskning" in document.text
    assert "- Mer samverkan med industrin" in document.text


def test_manifest_with_an_unknown_field_is_an_error(tmp_path: Path):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text('[documents."a.txt"]\ntitel = "stavfel"\n', encoding="utf-8")
    with pytest.raises(DocumentError, match="manifest"):
        load_manifest(manifest)
