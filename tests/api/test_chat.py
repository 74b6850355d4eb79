"""Follow-up resolution for /chat (api/chat.py): pure logic, no server (fast tier).

The /chat route itself, over a real server, is tested in test_api.py."""

from __future__ import annotations

from api.chat import is_follow_up, names, rewrite_question, salient_terms
from api.schemas import ChatMessage

QUESTION = "Which generals are negotiating the peace?"


def turns(*contents: str) -> list[ChatMessage]:
    return [ChatMessage(role="user" if i % 2 == 0 else "assistant", content=c)
            for i, c in enumerate(contents)]


def test_follow_up_detection():
    for text in ("and what did he say about NATO?", "What about Milley?", "how about the date?",
                 "why?", "When did he say it?", "What did they agree on in the end?"):
        assert is_follow_up(text), text
    for text in ("Which generals are negotiating the peace?", "What did Zaluzhny tell the Economist?",
                 "When did Milley speak at the Economic Club of New York?"):
        assert not is_follow_up(text), text


def test_names_skip_question_words_and_possessives():
    assert names("What did Valery Zaluzhny tell the Economist?") == ["Valery Zaluzhny", "Economist"]
    assert names("Where was Zaluzhny's interview published?") == ["Zaluzhny"]
    assert names("Which generals are negotiating the peace?") == []
    assert salient_terms("Which generals are negotiating the peace?") == ["generals", "negotiating", "peace"]


def test_rewrite_prepends_names_from_the_previous_user_turn():
    assert rewrite_question(turns("What did Milley say about negotiations?", "Milley said ... [1]",
                                  "and what did he say about NATO?")) == "Milley - what did he say about NATO?"
    # the latest earlier user turn with names wins; assistant turns are never used
    assert rewrite_question(turns("What did Milley say?", "answer about Zaluzhny and Lavrov",
                                  "What did Zaluzhny say?", "answer", "and when?")) == "Zaluzhny - when?"
    # a name the follow-up already has is not repeated
    assert rewrite_question(turns("What did Milley say about NATO?", "a",
                                  "what about NATO and Milley?")) == "what about NATO and Milley?"
    # no names in the earlier turn: its content words
    assert rewrite_question(turns(QUESTION, "a", "and what did they say about NATO?")) == \
        "generals, negotiating, peace - what did they say about NATO?"


def test_rewrite_leaves_standalone_questions_alone():
    assert rewrite_question(turns(QUESTION)) == QUESTION
    assert rewrite_question(turns("What did Milley say?", "a", "Which generals are negotiating the peace?")) \
        == "Which generals are negotiating the peace?"
