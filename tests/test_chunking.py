"""Chunks follow sections, never cut a sentence, and point back into the document text."""

import pytest
from conftest import CORPUS, MANIFEST

from fouassist.ingest.chunking import chunk_document
from fouassist.ingest.documents import load_manifest, read_file
from fouassist.language.analysis import Analyzer
from fouassist.language.sentences import split_sentences

TARGET, MAXIMUM, MINIMUM = 900, 1600, 250


@pytest.fixture(scope="module")
def chunked():
    analyzer, manifest = Analyzer(), load_manifest(MANIFEST)
    documents = [read_file(p, analyzer, manifest) for p in sorted(CORPUS.glob("*.txt"))]
    return [(d, chunk_document(d, TARGET, MAXIMUM, MINIMUM)) for d in documents]


def test_offsets_slice_back_to_the_chunk_text(chunked):
    for document, chunks in chunked:
        for chunk in chunks:
            assert document.text[chunk.start:chunk.end] == chunk.text
            for sentence in chunk.sentences:
                assert chunk.start <= sentence.start < sentence.end <= chunk.end


def test_chunks_end_at_sentence_ends_and_cover_the_text(chunked):
    for document, chunks in chunked:
        sentence_ends = {s.end for c in chunks for s in c.sentences}
        for chunk in chunks:
            assert chunk.end in sentence_ends
            assert chunk.text == chunk.text.strip()
        covered = "".join(c.text for c in chunks).replace("\n", "").replace(" ", "")
        assert covered == document.text.replace("\n", "").replace(" ", "")


def test_sizes_suit_a_512_token_model(chunked):
    sizes = [len(c.text) for _, chunks in chunked for c in chunks]
    assert max(sizes) <= MAXIMUM
    assert sum(sizes) / len(sizes) <= TARGET
    assert sum(1 for s in sizes if s < MINIMUM) <= 1  # at most a final scrap


def test_stockholm_chunks_carry_their_section(chunked):
    document, chunks = next((d, c) for d, c in chunked if d.source.startswith("003"))
    sections = [c.section for c in chunks]
    assert None not in sections
    assert {"1", "2", "3", "4.1", "4.2", "4.3", "5.1.1", "5.1.2", "5.1.5", "5.1.7", "5.2.1", "6"} <= set(sections)
    research_time = [c for c in chunks if "forskningstid" in c.text]
    assert [c.section for c in research_time] == ["5.1.5"]
    assert research_time[0].heading_path[-1].startswith("5.1.5 I Region Stockholm")
    assert research_time[0].heading_path[0].startswith("5 Organisering")


def test_sentences_respect_abbreviations():
    text = ("Region Stockholm ska bl.a. göra detta. Samtliga chefer ska inneha s.k. Good Clinical "
            "Practice-kompetens (god klinisk sed). Det gäller enl. 18 kap. 2 § i lagen. Nästa mening!")
    sentences = [text[s.start:s.end] for s in split_sentences(text, "sv")]
    assert sentences == [
        "Region Stockholm ska bl.a. göra detta.",
        "Samtliga chefer ska inneha s.k. Good Clinical Practice-kompetens (god klinisk sed).",
        "Det gäller enl. 18 kap. 2 § i lagen.",
        "Nästa mening!",
    ]
    norwegian = "Det gjelder bl.a. sykehus, f.eks. St. Olavs hospital. Ny setning."
    assert [norwegian[s.start:s.end] for s in split_sentences(norwegian, "nb")] == [
        "Det gjelder bl.a. sykehus, f.eks. St. Olavs hospital.", "Ny setning."]
