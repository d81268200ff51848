"""Hybrid retrieval and extractive answers over the default corpus (lexical-only here)."""

import logging

import pytest
from conftest import CORPUS, make_settings

from fouassist.ask.answer import stream_pieces
from fouassist.ask.demands import Demands, has_amount, has_date
from fouassist.ask.templates import neutral
from fouassist.index.store import SearchFilters
from fouassist.service import Service

FOLLOW_UP_HISTORY = [
    {"role": "user", "content": "Vad säger Region Stockholms strategi om forskningstid?"},
    {"role": "assistant", "content": "Enligt Region Stockholms forsknings-, utbildnings- och utvecklingsstrategi ..."},
]


def document_text(service, document_id: str) -> str:
    return service.document(document_id)["text"]


@pytest.mark.parametrize("query", ["forskningstid", "tid för forskning", "tid til forskning",
                                   "Vad säger strategin om forskningstid?", "Hva sier strategien om forskningstid?"])
def test_three_phrasings_find_the_research_time_passage(corpus_service, query):
    passages = corpus_service.retrieve(query, top_k=3).passages
    assert "5.1.5" in [p.section for p in passages[:2]]
    assert passages[0].coverage > 0.8


def test_research_time_answer_cites_section_5_1_5_verbatim(corpus_service):
    answer = corpus_service.ask("Vad säger strategin om forskningstid?")
    assert not answer.abstained and answer.language == "sv"
    assert answer.answer.startswith("Enligt dokumentet ”Region Stockholms forsknings-, utbildnings- och utvecklingsstrategi” (avsnitt")
    assert "5.1.5" in answer.answer.split(":")[0]
    assert any("forskningstid" in c.quote and c.section == "5.1.5" for c in answer.citations)
    for citation in answer.citations:
        text = document_text(corpus_service, citation.document_id)
        assert text[citation.start:citation.end] == citation.quote
        assert citation.quote in citation.passage
        assert f"[{citation.id}]" in answer.answer
        assert neutral(citation.quote) in answer.answer  # quoted verbatim (its own quotation marks neutralised)
    assert [c.id for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_norwegian_question_about_a_swedish_document_is_answered_in_norwegian(corpus_service):
    answer = corpus_service.ask("Hva sier Stockholm-strategien om samarbeid med næringslivet?")
    assert not answer.abstained and answer.language == "nb"
    assert answer.answer.startswith("Ifølge ")
    assert "«" in answer.answer
    assert any(c.section == "5.1.7" for c in answer.citations)


def test_a_quote_that_opens_a_list_brings_its_items(corpus_service):
    answer = corpus_service.ask("Vilka genombrott ska forskningen i Region Stockholm leda till?")
    quote = answer.citations[0].quote
    assert "ska leda till genombrott som:" in quote and "förebygger sjukdom" in quote, quote


def test_a_sentence_that_goes_on_with_the_quote_is_quoted_with_it(corpus_service):
    answer = corpus_service.ask("Hur ska fler av vårdens aktörer kunna medverka i kliniska studier i Region Stockholm?")
    quote = answer.citations[0].quote
    assert quote.startswith("Region Stockholm ska skapa förutsättningar") and "Detta ska ske bland annat" in quote


def test_several_documents_each_get_a_part(corpus_service):
    answer = corpus_service.ask("Vad säger dokumenten om samverkan med industrin och företag?")
    documents = {c.document_id for c in answer.citations}
    assert len(documents) >= 2
    assert answer.answer.count("Enligt ") == len(documents)


@pytest.mark.parametrize(("question", "opening"), [
    ("Vad säger strategin om cancerscreening?", "Dokumenten säger inget om cancerscreening."),
    ("Hva sier planen om kunstig intelligens?", "Dokumentene sier ikke noe om kunstig intelligens."),
    # The documents speak of researchers and employees, but give no number: they are named as mentioned.
    ("Hur många forskare är anställda i Region Stockholm?", "Dokumenten tar upp forskare och anställda, men inget"),
    ("Vad säger Region Stockholms strategi om Södersjukhusets forskningsuppdrag?",
     "Dokumenten nämner Region Stockholms och forskningsuppdrag, men säger inget om Södersjukhusets."),
])
def test_unanswerable_questions_abstain_and_list_the_closest_passages(corpus_service, question, opening):
    answer = corpus_service.ask(question)
    assert answer.abstained
    assert answer.answer.startswith(opening)
    assert answer.citations == []
    assert answer.closest and ("Närmaste träffar" in answer.answer or "Nærmeste treff" in answer.answer)
    assert "[1]" not in answer.answer


def test_a_question_without_content_words(corpus_service):
    answer = corpus_service.ask("Vad är det?")
    assert answer.abstained and "inga ord att söka på" in answer.answer


def test_follow_up_takes_the_subject_from_the_conversation(corpus_service):
    answer = corpus_service.ask("Och i Mellansverige?", history=FOLLOW_UP_HISTORY)
    assert "forskningstid" in answer.query
    assert not answer.abstained
    assert {c.organisation for c in answer.citations} <= {"Sjukvårdsregion Mellansverige", "Samverkansnämnden Mellansverige"}
    resolve = corpus_service.interpreter.resolve_follow_up
    assert resolve("Vad säger strategin om kompetensförsörjning?", FOLLOW_UP_HISTORY) == \
        "Vad säger strategin om kompetensförsörjning?"  # a full question stands on its own
    assert resolve("Och om kompetensförsörjning?", FOLLOW_UP_HISTORY) == "Och om kompetensförsörjning? stockholms"


def test_filters_restrict_the_documents(corpus_service):
    records = {r["source"][:3]: r for r in corpus_service.documents()}
    cases = [
        (SearchFilters(languages=["nb"]), {records["001"]["id"]}),
        (SearchFilters(organisations=["Region Västerbotten"]), {records["004"]["id"]}),
        (SearchFilters(document_ids=[records["003"]["id"]]), {records["003"]["id"]}),
        (SearchFilters(date_from="2024-01-01"), {records["000"]["id"]}),
        (SearchFilters(date_from="2023-01-01", date_to="2023-12-31"), {records["001"]["id"]}),
    ]
    for filters, allowed in cases:
        passages = corpus_service.retrieve("forskning och innovation", top_k=10, filters=filters).passages
        assert passages and {p.document_id for p in passages} <= allowed, filters


def test_diversity_keeps_one_long_document_from_crowding_out_the_others(corpus_service):
    passages = corpus_service.retrieve("forskning och samverkan", top_k=5).passages
    assert len({p.document_id for p in passages}) >= 3


def test_question_demands():
    assert list(Demands.of("Hur många forskare finns det?", []).kinds.values()) == [has_amount]
    assert list(Demands.of("När antogs planen?", []).kinds.values()) == [has_date]
    assert Demands.of("Vad säger planen?", []).kinds == {}
    assert has_amount("Delprojekten finansieras med 50 procent.")
    assert not has_amount("enligt lagen (2017:30) och avtalet (LS 1408–0943) från 2019")
    assert has_date("vedtatt 2. juni 2023") and not has_date("ingen tidpunkt här")


def test_stream_pieces_join_back_to_the_answer(corpus_service):
    text = corpus_service.ask("Vad säger strategin om forskningstid?").answer
    pieces = list(stream_pieces(text))
    assert len(pieces) > 10 and "".join(pieces) == text


def test_optional_cross_encoder_reranks_and_is_off_when_missing(tmp_path, tiny_cross_encoder, caplog):
    service = Service(make_settings(tmp_path / "a", reranker_model=str(tiny_cross_encoder)))
    try:
        service.ingest_paths([CORPUS])
        result = service.retrieve("Vad säger strategin om forskningstid?", top_k=5)
        assert "rerank" in result.timings_ms and len(result.passages) == 5
    finally:
        service.close()
    with caplog.at_level(logging.WARNING):
        service = Service(make_settings(tmp_path / "b", reranker_model=str(tmp_path / "missing-reranker")))
        assert not service.retriever.reranker  # waits for the models, which load in the background
    try:
        assert any("Reranking is OFF" in r.message and "does not exist" in r.message for r in caplog.records)
        service.ingest_paths([CORPUS])
        assert "rerank" not in service.retrieve("forskningstid", top_k=3).timings_ms
    finally:
        service.close()


def test_organisation_names_scope_by_whole_words_never_by_their_parts():
    from fouassist.ask.question import scope
    from fouassist.index.catalog import organisation_names
    from fouassist.index.store import DocumentRecord
    from fouassist.language.analysis import Analyzer

    analyzer = Analyzer()
    records = [DocumentRecord(id=f"d{n}", source=f"{n}.txt", format="txt", title="Plan", organisation=name,
                              language=language, characters=100)
               for n, (name, language) in enumerate([("Samverkansnämnden Mellansverige", "sv"),
                                                     ("Helse Midt-Norge", "nb"), ("Region Stockholm", "sv")])]
    names = organisation_names(analyzer, records)
    assert set(names) == {"mellansverige", "midt-norge", "stockholm"}
    scoped = lambda question: scope(analyzer.analyze_query(question), names)  # noqa: E731
    assert scoped("Vad säger dokumenten om samverkan med näringslivet?") == set()  # "samverkan" is a topic
    assert scoped("Hva sier planen om forskning i Norge?") == set()
    assert scoped("Vad säger Samverkansnämnden Mellansverige om forskning?") == {"d0"}
    assert scoped("Hva sier Helse Midt-Norge om innovasjon?") == {"d1"}
    assert scoped("Hur arbetar Region Stockholm med hälsodata?") == {"d2"}
