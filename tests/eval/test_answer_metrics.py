"""Answer-level scoring: normalization, containment on whole tokens, token F1, multiple choice,
and gold records carrying answers and splits. Fast tier."""

from __future__ import annotations

import json

import pytest

from rag.errors import InputError
from rag.eval.answer_metrics import best_f1, choice_supported, contains, contains_any, normalize, token_f1
from rag.eval.beir import day
from rag.eval.beir_answers import load_answer_questions
from rag.eval.gold import GoldQuestion, judge, load_gold, select_split, summarize
from rag.types import Answer, Citation


@pytest.mark.parametrize(("answer", "expected"), [
    ("The troops advanced eleven miles.", "11 miles"),
    ("It cost $1,200 in total", "$1200"),
    ("“Squid Game” returns", '"Squid Game"'),
    ("They chose the Netherlands", "Netherlands"),
    ("a 50% cut", "fifty percent"),
])
def test_contains_normalizes_case_punctuation_numbers_and_articles(answer, expected):
    assert contains(answer, expected)


def test_contains_matches_whole_tokens_only():
    assert not contains("Iranian officials met", "Iran")
    assert not contains("anything", "")
    assert contains_any("Iran's officials met", ["Iraq", "Iran s"])
    assert normalize("The   U.S. Army") == "u s army"


def test_token_f1_and_best_sentence():
    assert token_f1("Squid Game", "Squid Game") == 1.0
    assert token_f1("nothing shared", "Squid Game") == 0.0
    assert token_f1("Netflix renewed Squid Game", "Squid Game") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert best_f1(["unrelated words", "Squid Game renewed"], ["Squid Game"]) == pytest.approx(0.8)
    assert best_f1([], ["x"]) == 0.0


def test_a_choice_is_supported_only_when_one_leads():
    choices = ["Game of Thrones", "Squid Game", "Breaking Bad", "Friends"]
    assert choice_supported("Netflix renews Squid Game for a second season", choices) == 1
    assert choice_supported("Nothing about television here", choices) is None
    assert choice_supported("Game night", ["Squid Game", "Game Boy"]) is None  # a tie picks nothing


def answer_with(quote: str, doc: str = "d1") -> Answer:
    citation = Citation(n=1, doc_id=doc, title="t", source="s", start=0, end=len(quote), quote=quote, score=1.0)
    return Answer(question="q", answer=f"{quote} [1]", abstained=False, citations=[citation])


def test_judge_scores_answers_choices_and_ignores_citation_marks():
    item = GoldQuestion(id="x", question="q", expected_doc_ids=["d1"], answers=["1"],
                        choices=["1", "2"], answer_index=[0], split="test")
    wrong = judge(item, answer_with("Nothing numeric is said here"), 1.0)
    assert wrong.contains is False and wrong.choice_correct is False  # "[1]" is not an answer
    right = judge(item, answer_with("Only one was left"), 1.0)
    assert right.contains and right.choice_correct and right.hit1 and right.split == "test"
    summary = summarize([wrong, right])
    assert summary["answer_contains"] == 0.5 and summary["choice_accuracy"] == 0.5


def test_splits_are_selected_and_an_empty_split_is_an_error(tmp_path):
    path = tmp_path / "gold.jsonl"
    rows = [{"id": "a", "question": "q?", "split": "dev"}, {"id": "b", "question": "q?", "split": "test"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    questions = load_gold(path)
    assert [q.id for q in select_split(questions, "test")] == ["b"]
    assert select_split(questions, None) == questions
    with pytest.raises(InputError, match="split"):
        select_split(questions[:1], "test")


def test_beir_answer_questions_split_by_date(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "T", "text": "Body."}) + "\n")
    queries = [{"_id": "20220826_0", "text": "early?", "answers": ["a"], "question_date": "2022/08/25"},
               {"_id": "20220902_0", "text": "late?", "answers": ["b"], "choices": ["a", "b"],
                "answer_index": [1]}]
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n20220826_0\td1\t1\n20220902_0\td1\t1\n")
    documents, questions = load_answer_questions(tmp_path)
    assert [d.doc_id for d in documents] == ["d1"]
    assert [(q.id, q.split) for q in questions] == [("20220826_0", "dev"), ("20220902_0", "test")]
    assert questions[1].choices == ["a", "b"] and questions[1].answer_index == [1]
    assert day("2022/08/25") == "2022-08-25" and day("no date") is None
    assert day("20220617_0") == "2022-06-17" and day("2022-06-16T10:00:00") == "2022-06-16"
    assert day("1655337600") is None and day("2022-13-45") is None and day("x12022061799") is None
    assert day("2022-13-45, revised 2022-06-20") == "2022-06-20"
    assert day("20220617123000") == "2022-06-17" and day("2022 06 17") == "2022-06-17"
    assert day("2022/06-17") is None
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps({"_id": q["_id"], "text": "q"}) for q in queries))
    with pytest.raises(InputError, match="answers"):
        load_answer_questions(tmp_path)
