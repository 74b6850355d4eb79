"""Boilerplate removal that keeps offsets into the original text.

Nothing is deleted from `Document.text`. Cleaning returns the *sections* worth indexing: maximal
runs of content lines between boilerplate lines, as spans of the original text. Chunks never cross
a section boundary, so `text[chunk.start:chunk.end]` is always clean and always exact.

Lines are judged by what they say (share buttons, newsletter pitches, disclaimers, widget errors,
"Read also:" links), never by appearing in several documents: republished real content is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.types import Span

BOILERPLATE = [
    r"click (the )?share buttons?",
    r"\bfollow (us|him|her|me) on\b",
    r"subscribe to (our|the|my) ",
    r"daily newsletter",
    r"can be read in \d+ languages",
    r"feel free to repost",
    r"^note to readers",
    r"^featured image",
    r"^comment on .*(facebook|twitter)",
    r"^become a member",
    r"^articles by:",
    r"^disclaimer:",
    r"contains copyrighted material",
    r"^for media inquiries",
    r"^the original source of this article is",
    r"^oops!?$",
    r"^something went wrong\.?$",
    r"^please try again later\.?$",
    r"^read (also|more):",
    r"^read the original article",
    r"^click here to read",
    r"^in-depth report:",
    r"^(region|theme|tags?|categor(y|ies)):",
    r"^\(continue with translation",
    r"^(photo|image|picture) (by|credit|source)\b",
    r"\[email\s*protected\]",
    r"^(share|tweet|email|print|comments?)( (this|the))?( (article|story|page))?:?$",
    r"^advertisement$",
    r"^sign up for (our|the) ",
    r"^all rights reserved",
    r"^(copyright|©)\s",
]
BULLETS = " \t\xa0\u200b•·*-–—>#|"
SYMBOLS_ONLY = re.compile(r"^[\W_]*$")
LINE = re.compile(r"[^\n]*(?:\n|$)")


class Cleaner:
    """Finds the content sections of a text. Patterns are case-insensitive regular expressions."""

    def __init__(self, extra_patterns: Iterable[str] = (), enabled: bool = True) -> None:
        self.enabled = enabled
        self.pattern = re.compile("|".join(f"(?:{p})" for p in [*BOILERPLATE, *extra_patterns]),
                                  re.IGNORECASE)

    def is_boilerplate(self, line: str) -> bool:
        if not line.strip(" \t\xa0\u200b\f"):
            return False
        core = line.strip(BULLETS).replace("**", "").strip(BULLETS)
        if SYMBOLS_ONLY.match(core):
            return True
        return bool(self.pattern.search(core))

    def sections(self, text: str) -> list[Span]:
        """Spans of `text` holding content, split wherever a boilerplate line was removed.

        A short fragment wedged between two boilerplate lines (the wrapped tail of a footer such as
        "Articles by: Seymour M. / Hersh") is boilerplate too.
        """
        spans, closed_by_boilerplate = self._runs(text)
        return [
            span for i, span in enumerate(spans)
            if not (closed_by_boilerplate[i] and (i == 0 or closed_by_boilerplate[i - 1])
                    and self._is_fragment(text[span.start:span.end]) and i > 0)
        ]

    @staticmethod
    def _is_fragment(section: str) -> bool:
        return len(section) < 40 and "\n" not in section and not re.search(r"[.!?]$", section)

    def _runs(self, text: str) -> tuple[list[Span], list[bool]]:
        sections: list[Span] = []
        closed: list[bool] = []
        start = end = None
        for match in LINE.finditer(text):
            line = match.group(0)
            if not line:
                break
            body = line.rstrip("\r\n")
            if not body.strip(" \t\xa0\u200b\f"):
                continue
            if self.enabled and self.is_boilerplate(body):
                if start is not None:
                    sections.append(Span(start=start, end=end))
                    closed.append(True)
                start = end = None
                continue
            lead = len(body) - len(body.lstrip(" \t\xa0\u200b\f"))
            if start is None:
                start = match.start() + lead
            end = match.start() + len(body.rstrip(" \t\xa0\u200b\f"))
        if start is not None:
            sections.append(Span(start=start, end=end))
            closed.append(False)
        return sections, closed

    def removed_lines(self, text: str) -> list[str]:
        """The boilerplate lines of `text` (for reports and tests)."""
        return [line for line in text.splitlines() if line.strip() and self.is_boilerplate(line)]
