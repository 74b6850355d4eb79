"""Questions asked as of a day (`ask(..., as_of=...)`): documents dated later are left out, the days
just before it are searched first, everything earlier is the fallback. On constructed dated
documents with the real bundled model, plus the filter arithmetic as plain unit tests."""

from __future__ import annotations

import hashlib

import pytest

from rag import DocFilter, Document, InputError, ask, build_from_documents, load_settings, open_index
from rag.eval.beir import beir_document, published
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
    answers = {d for q in (QUESTION, "Who became mayor after Tomas Vik resigned?") for d in cited(ask(dated, q))}
    assert "brindle-later" in answers


def test_recent_days_zero_only_drops_later_documents(dated):
    dated.settings.retrieval.recent_days = 0
    try:
        answer = ask(dated, "Who was elected mayor after Tomas Vik resigned?", as_of="2022-07-19")
        assert "brindle-later" not in cited(answer)
    finally:
        dated.settings.retrieval.recent_days = 7


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
