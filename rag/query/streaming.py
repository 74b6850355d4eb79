"""An answer as a stream of events, for clients that show generated sentences as they are verified.

`ask_stream` yields `GeneratedSentence` events (a verified sentence with its citation) while the
model writes, then one `FinalAnswer` with the same `Answer` that `ask` returns. An extractive answer
is a single `FinalAnswer`. The chat route turns these into server-sent events.

It sits above `answering` (which dispatches non-streamed generated answers to `generation`) and
takes the extractive answer and its passages from the same call `ask` makes
(`answering.extractive`), so the model writes from the passages `ask` would give it.
"""

from __future__ import annotations

from collections.abc import Iterator

from rag.index.reader import Index
from rag.query.answering import extractive
from rag.query.filters import DocFilter
from rag.query.generation import FinalAnswer, GenerationEvent, stream_generated
from rag.query.retrieval import validate_query
from rag.types import Mode, Style


def ask_stream(index: Index, question: str, k: int | None = None, mode: Mode | None = None,
               where: DocFilter | None = None, style: Style | None = None,
               as_of: str | None = None) -> Iterator[GenerationEvent]:
    """`ask` as events: verified sentences as they come (generated style), then `FinalAnswer`.

    The question is checked, retrieved and answered extractively before this returns, so a bad
    request raises here (a route can still answer 422) rather than in the middle of a stream."""
    question = validate_query(question)
    answer, passages = extractive(index, question, k, mode, where, as_of)
    if (style or index.settings.generator.default_style) != "generated":
        return iter([FinalAnswer(answer)])
    return stream_generated(index, question, passages, answer)
