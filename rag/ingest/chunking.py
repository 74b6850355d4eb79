"""Document -> Chunks: sentence-aware, overlapping, sized in the embedder's own word pieces.

A chunk is a run of whole sentences inside one clean section whose token count (in the model's
tokenizer) stays within budget, so nothing is silently truncated at embedding time. A sentence
longer than the budget is cut at word-piece boundaries. Chunk ids are `doc_id#n`, stable as long
as the document is unchanged.

Sentence splitting runs on untrusted text, so every step is linear: the patterns never start with
a quantified class that could be retried from each position of a long run (a blank-line match
starts at its newline; terminal punctuation is matched as maximal runs and the space after it is
checked in code), and the look-back and look-ahead around line breaks are computed once per break
in one pass instead of rescanning a shared run of whitespace.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.types import Chunk, Document, Span

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "maj", "capt", "sgt", "adm", "sen",
    "rep", "gov", "pres", "st", "jr", "sr", "no", "vs", "etc", "inc", "corp", "co", "ltd", "dept",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "fig", "al", "approx", "e.g", "i.e", "u.s", "u.k", "u.n", "mt", "ft", "ave",
}
TERMINAL = re.compile(r"[.!?…]++[\"'”’)\]]*+")  # a cut only where whitespace follows (checked in code)
PARAGRAPH = re.compile(r"\r?\n(?:[ \t\xa0\u200b]*+\r?\n)++[ \t\xa0\u200b]*+")
NON_SPACE = re.compile(r"\S")
JOINING_END = re.compile(r"[,:;—–-]$")
SHORT_LINE = 40
NEXT_CHAR = re.compile(r"\s*(\S)")
TAIL = 64  # characters looked at before a break: the patterns there are anchored at its end

TokenCounter = Callable[[Sequence[str]], list[int]]
TokenSplitter = Callable[[str, int], list[tuple[int, int]]]


@dataclass(frozen=True)
class ChunkPlan:
    """Token budget for chunk text, and how many trailing tokens to repeat in the next chunk."""

    max_tokens: int
    overlap_tokens: int


def split_sentences(text: str, span: Span) -> list[Span]:
    """Sentence spans of `text[span.start:span.end]`, as absolute offsets, whitespace trimmed."""
    cuts = sorted(set(_paragraph_cuts(text, span)) | set(_punctuation_cuts(text, span)))
    bounds = [span.start, *cuts, span.end]
    sentences = []
    for start, end in itertools.pairwise(bounds):
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece.rstrip())
        if trail > lead:
            sentences.append(Span(start=start + lead, end=start + trail))
    return sentences


def _paragraph_cuts(text: str, span: Span) -> list[int]:
    """Cuts at line breaks that end a sentence. Linear: only a short tail before each break is read."""
    cuts = []
    region = text[span.start:span.end]
    blank = [(m.start(), m.end()) for m in PARAGRAPH.finditer(region)]
    starts = [b[0] for b in blank]

    def inside_blank(pos: int) -> bool:
        i = bisect.bisect_right(starts, pos) - 1
        return i >= 0 and blank[i][0] <= pos < blank[i][1]

    breaks = [(a, b, True) for a, b in blank]
    breaks += [(m.start(), m.end(), False) for m in re.finditer(r"\r?\n", region) if not inside_blank(m.start())]
    breaks.sort()
    stops = _text_ends_before(region, breaks)
    nexts = _text_starts_after(region, breaks)
    # Breaks with the same text before and after lie in one run of whitespace: once that run is
    # cut, more cuts in it change no sentence, so each run is judged at most twice, not per break.
    cut_runs: set[tuple[int, int]] = set()
    decided: dict[tuple[int, int, bool], bool] = {}
    for (_, end, is_blank), stop, following in zip(breaks, stops, nexts, strict=True):
        if stop == 0 or following is None or (stop, following) in cut_runs:
            continue
        if (stop, following, is_blank) not in decided:
            decided[(stop, following, is_blank)] = _ends_sentence(region, stop, following, is_blank)
        if decided[(stop, following, is_blank)]:
            cut_runs.add((stop, following))
            cuts.append(span.start + end)
    return cuts


def _ends_sentence(region: str, stop: int, following: int, is_blank: bool) -> bool:
    """Whether a line break after text ending at `stop`, before text at `following`, ends a sentence."""
    before = region[max(0, stop - TAIL):stop]
    joins = JOINING_END.search(before) or region[following].islower()
    if joins:
        return False
    if is_blank:
        return True
    line_before = region[region.rfind("\n", 0, stop) + 1:stop].strip()
    return len(line_before) < SHORT_LINE or bool(re.search(r"[.!?…][\"'”’)]*$", before))


def _text_ends_before(region: str, breaks: list[tuple[int, int, bool]]) -> list[int]:
    """For each break (sorted), the end of the last non-space text before it (0 when none)."""
    stops, last, scanned = [], 0, 0
    for start, _, _ in breaks:
        kept = len(region[scanned:start].rstrip())
        if kept:
            last = scanned + kept
        scanned = max(scanned, start)
        stops.append(last)
    return stops


def _text_starts_after(region: str, breaks: list[tuple[int, int, bool]]) -> list[int | None]:
    """For each break (sorted), where the next non-space character after it is (None when none)."""
    found: list[int | None] = [None] * len(breaks)
    following: int | None = None
    limit = len(region)
    for i in range(len(breaks) - 1, -1, -1):
        end = breaks[i][1]
        match = NON_SPACE.search(region, end, limit) if end < limit else None
        if match:
            following = match.start()
        found[i] = following
        limit = end  # a blank may hold a zero-width space: the next search covers this break too
    return found


def _punctuation_cuts(text: str, span: Span) -> list[int]:
    cuts = []
    region = text[span.start:span.end]
    for match in TERMINAL.finditer(region):
        if match.end() >= len(region) or not region[match.end()].isspace():
            continue
        following = NEXT_CHAR.match(region, match.end())
        first = following.group(1) if following else ""
        if not first or not (first.isupper() or first.isdigit() or first in "\"'“‘(•["):
            continue
        word = re.search(r"([\w.]+)[.!?…]*[\"'”’)\]]*$", region[max(0, match.end() - TAIL):match.end()])
        token = word.group(1).rstrip(".").lower() if word else ""
        if match.group(0).startswith(".") and (token in ABBREVIATIONS or re.fullmatch(r"[a-z]", token)):
            continue
        cuts.append(span.start + match.end())
    return cuts


def chunk_document(
    doc: Document,
    sections: list[Span],
    plan: ChunkPlan,
    count_tokens: TokenCounter,
    split_tokens: TokenSplitter,
) -> list[Chunk]:
    """Pack each section's sentences into chunks of at most `plan.max_tokens` word pieces."""
    chunks: list[Chunk] = []
    for section in sections:
        sentences = _bounded_sentences(doc.text, section, plan.max_tokens, count_tokens, split_tokens)
        for group in (part for packed in _pack(sentences, plan)
                      for part in _within_budget(doc.text, packed, plan.max_tokens, count_tokens)):
            start, end = group[0][0].start, group[-1][0].end
            chunks.append(Chunk(
                chunk_id=f"{doc.doc_id}#{len(chunks)}",
                doc_id=doc.doc_id,
                n=len(chunks),
                start=start,
                end=end,
                text=doc.text[start:end],
                tokens=sum(t for _, t in group),
                sentences=[s for s, _ in group],
                page=doc.page_at(start),
            ))
    return chunks


def _bounded_sentences(
    text: str, section: Span, limit: int, count_tokens: TokenCounter, split_tokens: TokenSplitter
) -> list[tuple[Span, int]]:
    sentences = split_sentences(text, section)
    counts = count_tokens([text[s.start:s.end] for s in sentences])
    bounded: list[tuple[Span, int]] = []
    for sentence, count in zip(sentences, counts, strict=True):
        if count <= limit:
            bounded.append((sentence, count))
            continue
        bounded.extend(_fit(text, sentence, limit, limit, count_tokens, split_tokens))
    return bounded


def _fit(text: str, span: Span, limit: int, window: int, count_tokens: TokenCounter,
         split_tokens: TokenSplitter) -> list[tuple[Span, int]]:
    """Pieces of `span` cut every `window` word pieces, each re-counted on its own and cut again
    (with a smaller window) while over `limit`: a piece cut inside a word is tokenized afresh and
    can count more pieces than it had in place ("UUB000" -> "U" + "UB000" grew 24 -> 25)."""
    fitted: list[tuple[Span, int]] = []
    for start, end in split_tokens(text[span.start:span.end], window):
        piece = Span(start=span.start + start, end=span.start + end)
        count = count_tokens([text[piece.start:piece.end]])[0]
        if count <= limit or end - start <= 1 or window <= 1:
            fitted.append((piece, count))
        else:
            smaller = max(1, min(window - 1, window - (count - limit)))
            fitted.extend(_fit(text, piece, limit, smaller, count_tokens, split_tokens))
    return fitted


def _within_budget(text: str, group: list[tuple[Span, int]], limit: int,
                   count_tokens: TokenCounter) -> list[list[tuple[Span, int]]]:
    """`group`, or its halves, so that the chunk text itself counts at most `limit` pieces.

    Pieces of one over-long sentence touch (no whitespace between them) and re-tokenize as a
    whole differently from the sum of their counts; whole sentences never do, so only groups
    with touching pieces are counted again."""
    touching = any(a.end == b.start for (a, _), (b, _) in itertools.pairwise(group))
    if not touching or len(group) == 1 or count_tokens([text[group[0][0].start:group[-1][0].end]])[0] <= limit:
        return [group]
    half = len(group) // 2
    return [*_within_budget(text, group[:half], limit, count_tokens),
            *_within_budget(text, group[half:], limit, count_tokens)]


def _pack(sentences: list[tuple[Span, int]], plan: ChunkPlan) -> list[list[tuple[Span, int]]]:
    groups: list[list[tuple[Span, int]]] = []
    current: list[tuple[Span, int]] = []
    total = 0  # tokens in `current`, kept as a running sum (a group may hold many 0-token pieces)
    fresh = 0  # sentences in `current` not already emitted in the previous chunk
    for item in sentences:
        if current and total + item[1] > plan.max_tokens:
            groups.append(current)
            current = _overlap_tail(current, plan.overlap_tokens, item[1], plan.max_tokens)
            total = sum(t for _, t in current)
            fresh = 0
        current.append(item)
        total += item[1]
        fresh += 1
    if current and fresh:
        groups.append(current)
    return groups


def _overlap_tail(
    group: list[tuple[Span, int]], overlap: int, incoming: int, limit: int
) -> list[tuple[Span, int]]:
    tail: list[tuple[Span, int]] = []
    for item in reversed(group[1:]):
        used = sum(t for _, t in tail)
        if used + item[1] > overlap or used + item[1] + incoming > limit:
            break
        tail.insert(0, item)
    return tail
