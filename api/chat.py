"""Follow-up questions in a chat: a small, predictable query rewrite (no language model).

The index answers one self-contained question at a time, so "and what did he say about NATO?"
after "What did Milley say about negotiations?" must become a question that names Milley. The
rule, applied to the last user message:

1. It is a *follow-up* when it
   - starts with a connective: "and", "but", "also", "so", "what about", "how about", or
   - has no capitalized name of its own and is short (at most `SHORT_WORDS` words) or
     contains a pronoun (he, she, they, it, his, her, their, that, ...).
2. A follow-up gets the *salient terms* of the most recent earlier user message that has any
   prepended, joined by ", " and followed by " - ". Salient terms are the capitalized names
   ("Valery Zaluzhny", "NATO"), skipping the question word that opens a sentence; when that
   message has no names, its content words (no stop words) are used instead. Terms the follow-up
   already contains are not repeated, and a leading "and"/"but"/"also"/"so" is dropped.
3. Anything else is returned unchanged.

Assistant turns are not used: an answer quotes many names, and prepending them would steer
retrieval towards the previous answer instead of the user's subject.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

SHORT_WORDS = 4
MAX_TERMS = 6

CONNECTIVE = re.compile(r"^\s*(and|but|also|so|what about|how about)\b[\s,]*", re.IGNORECASE)
DROPPED_CONNECTIVE = re.compile(r"^\s*(and|but|also|so)\b[\s,]*", re.IGNORECASE)
PRONOUNS = {"he", "she", "they", "it", "his", "her", "hers", "him", "its", "their", "theirs", "them",
            "that", "this", "those", "these"}
# Capitalized runs, allowing initials and inner particles: "Valery Zaluzhny", "Sergei V. Lavrov".
NAME = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:[A-Z]\.|[A-Z][\w'’-]*))*")
STOP_WORDS = {
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "but",
    "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if",
    "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "say", "said",
    "says", "so", "tell", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "us", "was", "we", "were", "what", "when", "where", "which", "who",
    "whom", "whose", "why", "will", "with", "would", "you", "your", "he", "she", "his", "her", "him",
    "according", "please", "should", "going", "get", "got", "much", "many", "more",
}


class Turn(Protocol):
    role: str
    content: str


def words(text: str) -> list[str]:
    return re.findall(r"[\w'’]+", text)


def names(text: str) -> list[str]:
    """Capitalized names in `text`, in order, without a sentence-opening function word."""
    found: list[str] = []
    for match in NAME.finditer(text):
        name = re.sub(r"['’]s$", "", match.group(0)).strip()
        parts = name.split()
        while parts and parts[0].lower().strip(".") in STOP_WORDS:
            parts = parts[1:]  # "What", "Did", "The" opening a sentence are not names
        if parts and not (len(parts) == 1 and parts[0] in {"I", "I'm", "I’m"}):
            found.append(" ".join(parts))
    return found


def content_words(text: str) -> list[str]:
    """Words that are not stop words; numbers only when they look like years."""
    return [w for w in words(text)
            if (w.lower() not in STOP_WORDS and not w.isdigit()) or (w.isdigit() and len(w) == 4)]


def is_follow_up(text: str) -> bool:
    """Whether `text` reads as a follow-up that needs the earlier turns (see the module rules)."""
    if CONNECTIVE.match(text):
        return True
    if names(text):
        return False
    tokens = words(text)
    return len(tokens) <= SHORT_WORDS or any(t.lower() in PRONOUNS for t in tokens)


def salient_terms(text: str) -> list[str]:
    """What an earlier question was about: its names, else its content words (first MAX_TERMS
    distinct ones; de-duplicated through a set, so linear in the number of words)."""
    unique: list[str] = []
    seen: set[str] = set()
    for term in names(text) or content_words(text):
        if term.lower() not in seen:
            seen.add(term.lower())
            unique.append(term)
            if len(unique) == MAX_TERMS:
                break
    return unique


def rewrite_question(messages: Sequence[Turn], max_chars: int | None = None) -> str:
    """The last user message, made self-contained with earlier user turns when it is a follow-up.

    With `max_chars`, terms are dropped from the end until the rewrite fits (the last message alone
    when none fit), so the question searched is never longer than a question may be.
    """
    if not messages:
        raise ValueError("no messages")
    last = messages[-1].content.strip()
    earlier = [m.content for m in messages[:-1] if m.role == "user"]
    if not earlier or not is_follow_up(last):
        return last
    lowered = last.lower()
    for previous in reversed(earlier):
        terms = [t for t in salient_terms(previous) if t.lower() not in lowered]
        if terms:
            return _joined(terms, DROPPED_CONNECTIVE.sub("", last, count=1), last, max_chars)
    return last


def _joined(terms: list[str], question: str, last: str, max_chars: int | None) -> str:
    while terms:
        rewritten = f"{', '.join(terms)} - {question}"
        if max_chars is None or len(rewritten) <= max_chars:
            return rewritten
        terms = terms[:-1]
    return last
