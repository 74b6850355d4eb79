"""Questions asked as of a day (`ask(..., as_of=...)`): documents dated later are left out, the days
just before it are searched first, everything earlier is the fallback. On constructed dated
documents with the real bundled model, plus the filter arithmetic as plain unit tests."""

from __future__ import annotations

import hashlib

import pytest

from rag import Answer, DocFilter, Document, InputError, ask, build_from_documents, load_settings, open_index
from rag.eval.beir import beir_document, published
from rag.query import answering
from rag.query.filters import recent, until

STORIES = {
    "brindle-2019": ("2019-05-02", "Brindle elects a mayor",
                     ("The Brindle city council elected Maria Olsen as mayor on Thursday. She promised "
                      "to repair the harbour wall before winter.")),
    "brindle-2022": ("2022-06-14", "Brindle has a new mayor",
                     ("The Brindle city council elected Tomas Vik as mayor on Monday. He promised to "
                      "build a second ferry pier by spring.")),
    "brindle-later": ("2022-07-20", "Brindle mayor resigns",
                      ("The Brindle city council elected Anna Berg as mayor after Tomas Vik resigned. "
                       "She promised new bus routes.")),
    "undated": (None, "Harbour guide",
                "The Brindle harbour has two ferry piers and a lighthouse built of grey granite."),
}
QUESTION = "Who did the Brindle city council elect as mayor this week?"


@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    docs = [Document(doc_id=d, source=f"{d}.txt", title=title, date=day, text=f"{title}\n\n{body}",
                     content_hash=hashlib.sha256(body.encode()).hexdigest())
            for d, (day, title, body) in STORIES.items()]
    settings = load_settings(index_dir=tmp_path_factory.mktemp("dated") / "index")
    build_from_documents(settings, docs)
    with open_index(settings) as index:
        index.settings.answer.abstain_below = 0.0  # these tests are about which documents, not whether
        yield index


def cited(answer) -> set[str]:
    return {c.doc_id for c in answer.citations}


def test_the_days_before_as_of_come_first(dated):
    answer = ask(dated, QUESTION, as_of="2022-06-16")
    assert cited(answer) == {"brindle-2022"} and "Tomas Vik" in answer.answer


def test_documents_dated_after_as_of_are_never_cited(dated):
    for as_of in ("2019-05-03", "2022-06-16", "2022-07-19"):
        answer = ask(dated, QUESTION, as_of=as_of)
        assert "brindle-later" not in cited(answer), as_of
    assert cited(ask(dated, QUESTION, as_of="2019-05-03")) <= {"brindle-2019", "undated"}


def test_an_empty_recent_window_falls_back_to_everything_earlier(dated):
    answer = ask(dated, QUESTION, as_of="2021-01-01")  # nothing dated in the week before
    assert not answer.abstained and "brindle-2019" in cited(answer)
    assert cited(answer) <= {"brindle-2019", "undated"}


def test_without_as_of_every_document_may_answer(dated):
    questions = (QUESTION, "Who became mayor after Tomas Vik resigned?")
    answers = {d for q in questions for d in cited(ask(dated, q))}
    assert "brindle-later" in answers


def test_recent_days_zero_searches_everything_earlier_at_once(dated):
    """With the window the 2022 story answers; without it the 2019 story, the better match."""
    question = "What did the new mayor promise to repair before winter?"
    assert cited(ask(dated, question, as_of="2022-06-16")) == {"brindle-2022"}
    dated.settings.retrieval.recent_days = 0
    try:
        assert "brindle-2019" in cited(ask(dated, question, as_of="2022-06-16"))
    finally:
        dated.settings.retrieval.recent_days = 7


def test_a_refusal_in_the_window_falls_back_to_everything_earlier(dated, monkeypatch):
    """Logic around the answer stage: when the window's passages give only a refusal, the
    question is asked again over all earlier documents (the refusal is forced with a wrapper)."""
    real = answering.answer_from

    def refuse_recent(index, question, vector, names_vector, passages):
        if {p.chunk.doc_id for p in passages} == {"brindle-2022"}:  # the window's only document
            return Answer(question=question, answer=answering.REFUSAL, abstained=True)
        return real(index, question, vector, names_vector, passages)

    monkeypatch.setattr(answering, "answer_from", refuse_recent)
    answer, passages = answering.extractive(dated, QUESTION, as_of="2022-06-16")
    assert not answer.abstained and answer.citations
    assert "brindle-2019" in {p.chunk.doc_id for p in passages}  # drawn from the wider scope
    assert "brindle-later" not in cited(answer)


def test_recent_narrows_a_given_filter_and_until_keeps_undated_documents():
    window = recent(DocFilter(author="olsen", date_from="2022-06-12", date_to="2022"), "2022-06-16", 7)
    assert (window.author, window.date_from, window.date_to) == ("olsen", "2022-06-12", "2022-06-16")
    assert recent(DocFilter(date_to="2022-06"), "2022-06-16", 7).date_to == "2022-06-16"
    assert recent(DocFilter(date_to="2022-05"), "2022-06-16", 7).date_to == "2022-05"
    assert recent(None, "2022-06-16", 7).date_from == "2022-06-09"
    later = until(DocFilter(not_after="2022-01-01"), "2022-06-16")
    assert later.not_after == "2022-01-01"
    docs = [Document(doc_id=d, source=d, text="x", date=day) for d, day in
            [("old", "2021-12-31"), ("new", "2022-06-17"), ("none", None)]]
    assert [d.doc_id for d in docs if until(None, "2022-06-16").matches(d)] == ["old", "none"]
    given = DocFilter(author="olsen")
    assert answering.dated_filters(given, None, 7) == [given]  # no day: the filter alone
    assert answering.dated_filters(given, "2022-06-16", 0) == [until(given, "2022-06-16")]
    assert answering.dated_filters(given, "2022-06-16", 7) == [recent(given, "2022-06-16", 7),
                                                               until(given, "2022-06-16")]


def test_dates_of_a_month_or_year_and_free_text_dates():
    """A month or year lies in a range only when all of it does; not-ISO dates count as undated."""
    docs = [Document(doc_id=day or "none", source="x", text="x", date=day) for day in
            ["2022-06", "2022", "June 2022", "2022-07", "2022-06-10", None]]
    kept = [d.doc_id for d in docs if until(None, "2022-06-16").matches(d)]
    assert kept == ["2022-06", "2022", "June 2022", "2022-06-10", "none"]
    assert [d.doc_id for d in docs if recent(None, "2022-06-16", 7).matches(d)] == ["2022-06-10"]
    in_2022 = [d.doc_id for d in docs if DocFilter(date_to="2022").matches(d)]
    assert in_2022 == ["2022-06", "2022", "2022-07", "2022-06-10"]
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        DocFilter(not_after="2023")


def test_a_bad_as_of_is_a_clear_input_error(dated):
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        ask(dated, QUESTION, as_of="2022-13-01")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        ask(dated, QUESTION, as_of="last week")


def test_beir_publish_dates_are_read_and_hashed():
    assert published("2022/06/16") == "2022-06-16" and published("2022-06-16T10:00:00") == "2022-06-16"
    assert published(None) is None and published("unknown") is None
    plain, stamped = beir_document("a", "T", "body"), beir_document("a", "T", "body", "2022-06-16")
    assert stamped.date == "2022-06-16" and plain.date is None
    assert plain.content_hash != stamped.content_hash  # a corrected date reaches the index
