"""What kind of answer a question asks for, and whether a unit holds one the question does not
already state: the type rules behind the scorer's type penalty and the refusal model's
`type_missing` feature. Constructed sentences and documents, not the seeds."""

from __future__ import annotations

import pytest
from fakes import fake_index

from rag.query.answer_types import answer_type, last_sentence, satisfies
from rag.query.answering import score_units
from rag.query.refusal import features, missing_idf
from rag.query.retrieval import search

DOC = """Harbour board meets in Ostrava

The harbour board met this week in Ostrava to discuss the ferry timetable.
The board approved the new timetable on March 14, 2022, after a long debate.
Between ten and twenty ferries a day will call at the harbour.
"""


@pytest.mark.parametrize(("question", "kind"), [
    ("On what date did the board approve the timetable?", "date"),
    ("When exactly did the board approve it?", "date"),
    ("On what day of the week did they meet?", "date"),
    ("Since what year has she led the board?", "when"),
    ("When did the board meet?", "when"),
    ("How old is the harbour master?", "how many"),
    ("How many ferries call a day?", "how many"),
    ("What is the name of the harbour master?", "which"),
    ("In which city did the board meet?", "which"),
    ("The board met. Who chairs it?", "who"),
    ("What did the board discuss?", None),
    ("Which harbour official signed it?", "who"),
    ("Which editor at The Harbour Post wrote the Nov. 14 report?", "who"),
    ("What is the name of the Czech ferry owner who spoke?", "who"),
    ("What was the vote on the timetable?", "how much"),
    ("What is the death toll?", "how much"),
    ("Gen. Novak met Mr. Smith in May. Which city hosted them?", "which"),
    ("the board met in ostrava. who chairs it?", "who"),
    ("The ferry left from Terminal C. Where did it go?", "where"),
    ("Which U.S. official signed it?", "who"),
    ("Which city hosts the board?", "which"),
    ("What is the name of the company whose chairman resigned?", "which"),
    ("What is the number one song in Ostrava?", None),
])
def test_the_kind_of_answer_asked_for(question, kind):
    assert answer_type(question) == kind


def test_a_relative_time_is_not_a_date_and_a_restated_number_is_not_new():
    asked = "On what date did the board approve the timetable?"
    assert satisfies("when", asked, "The harbour board met this week in Ostrava.")
    assert not satisfies("date", asked, "The harbour board met this week in Ostrava.")
    assert satisfies("date", asked, "The board approved the new timetable on March 14, 2022.")
    many = "How many ferries between ten and twenty a day will stop?"
    line = "Between ten and twenty ferries a day will call at the harbour."
    assert satisfies("how many", many, line) and not satisfies("how many", many, line, new=True)
    # whole numbers and words, not characters of the question: "20" is not stated by "2023"
    died = "At least 20 people died."
    assert satisfies("how many", "How many people died in the 2023 flood?", died, new=True)
    assert satisfies("how many", "How many attended the tennis final?", "Only ten players came.", new=True)
    assert not satisfies("how many", "Did 2023 see 20 deaths?", "At least 20 people died.", new=True)


@pytest.fixture(scope="module")
def harbour(tmp_path_factory):
    root = tmp_path_factory.mktemp("harbour")
    (root / "harbour.txt").write_text(DOC, encoding="utf-8")
    with fake_index(tmp_path_factory.mktemp("index") / "index", corpus=root) as index:
        yield index


def best_features(index, question):
    vector = index.embedder.encode_queries([question])[0]
    candidates = score_units(index, question, vector, search(index, question, 6, None, vector))
    return features(index, question, candidates)


def test_type_missing_marks_a_best_unit_without_the_asked_type(harbour):
    dated = best_features(harbour, "On what date did the board approve the new timetable?")
    assert dated["type_missing"] == 0.0
    assert best_features(harbour, "Who chairs the harbour board?")["type_missing"] == 1.0  # no full name


def test_missing_idf_is_zero_when_the_unit_has_every_term_and_high_for_an_unknown_one(harbour):
    line = "The board approved the new timetable on March 14, 2022, after a long debate."
    assert missing_idf(harbour, "When did the board approve the timetable?", line) == 0.0
    assert missing_idf(harbour, "What was the vote when the board approved the timetable?", line) == 1.0


def test_a_titled_or_initialled_name_answers_who():
    assert satisfies("who", "Which general leads the board?", "General Petr Novak leads it.")
    assert satisfies("who", "Who won a prize?", "Jana A. Dvorak won it.")
    assert satisfies("who", "Who spoke yesterday?", "Yesterday Petr Novak spoke.")


def test_a_name_is_new_only_when_the_question_holds_none_of_it():
    asked = "Which editor interviewed Novak?"
    assert satisfies("who", asked, "Jana Dvorak interviewed him for the Post.")
    assert not satisfies("who", asked, "In an interview, Petr Novak surprised the editors.")
    # a capitalized function word opening a clause is no part of a name
    assert not satisfies("who", "Who interviewed Novak?", "But Novak spoke to the local radio later.")


def test_month_and_weekday_names_count_only_capitalized():
    assert not satisfies("when", "When will the ferry run?", "The ferry may run if the board agrees.")
    assert satisfies("when", "When will the ferry run?", "The ferry runs from May onwards.")
    assert not satisfies("date", "On what date did it open?", "Crowds march to the harbour.")
    assert satisfies("date", "On what date did it open?", "It opened on Wednesday.")


def test_last_sentence_is_not_cut_at_an_abbreviation():
    assert last_sentence("What did Gen. Novak tell the U.S. envoy on Nov. 1?") == \
        "What did Gen. Novak tell the U.S. envoy on Nov. 1?"
    assert last_sentence("The board met in Ostrava. Who chairs it?") == "Who chairs it?"
