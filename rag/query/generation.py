"""Generated answers: the model writes short sentences, each with a verbatim quote; only verified
sentences are shown, and anything short of that falls back to the extractive answer, labelled.

Flow for one question (the extractive answer and its passages are already computed):

1. Off (`generator.base_url` unset) -> the extractive answer, `fallback: "disabled"`. An extractive
   refusal stands too (`"refused"`) unless `generator.ask_when_refused`: the refusal threshold is
   calibrated, the model's confidence is not.
2. The prompt numbers the retrieved passages and asks for JSON constrained by `response_schema`:
   `{"answerable": bool, "sentences": [{"passage": n, "quote": "...", "sentence": "..."}]}`, sent
   as `response_format` (llama.cpp, vLLM and Ollama turn it into a grammar): OpenAI's
   `json_schema` form, or `{"type": "json_object", "schema": ...}` for a server that rejects it
   (llama-cpp-python's). The quote comes before the sentence on purpose: the model copies, then
   writes.
3. Each sentence object is verified as soon as it is complete (`rag.query.verify`); a kept one
   becomes a numbered `Citation` with exact offsets and is yielded at once (the chat page streams
   it). Rejected ones are counted (`dropped`).
4. Output that is not the JSON asked for is retried once, with the bad reply shown to the model;
   a second failure, a timeout, an unreachable server, or no sentence surviving -> the extractive
   answer with `fallback` saying why. `answerable: false` -> a refusal (`abstained`).

The whole reply, retry included, gets `generator.timeout_s` (`rag.query.llm.stream_reply`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.config import GeneratorSettings
from rag.index.reader import Index
from rag.query.citations import cite, verified
from rag.query.llm import GenerationFailed, ObjectStream, stream_reply
from rag.query.verify import Verdict, lowercase_vocabulary, verify_sentence
from rag.types import Answer, Citation, Passage, RelatedPassage

REFUSAL = "The documents do not say. I found nothing in them that answers this question."
MARKER = re.compile(r"\s*\[\d+\]")
SHOWN = re.compile(r"\s*(.+?) \[(\d+)\](?= |$)")
SYSTEM = (
    "You answer questions using only the numbered passages the user gives. Reply with JSON only:\n"
    '{"answerable": true, "sentences": [{"passage": 2, "quote": "words copied exactly from passage 2", '
    '"sentence": "a short sentence of the answer, supported by the quote"}]}\n'
    "Rules: each quote is copied character for character from the passage it names, one contiguous "
    "piece, never joined from two places. Each sentence states only what its quote says: every "
    "name, number and date in the sentence is in the quote. Use at most {max_sentences} sentences. "
    'If the passages do not answer the question, reply {"answerable": false, "sentences": []}.'
)
RETRY = ("That reply was not the JSON asked for. Reply again with only the JSON object "
         '{"answerable": ..., "sentences": [...]}.')


@dataclass(frozen=True)
class GeneratedSentence:
    """A generated sentence that passed verification, ready to show with its citation."""

    text: str
    citation: Citation
    verdict: Verdict


@dataclass(frozen=True)
class FinalAnswer:
    """The last event of a generated answer: the answer as `ask` returns it."""

    answer: Answer


GenerationEvent = GeneratedSentence | FinalAnswer


def response_schema(max_sentences: int) -> dict[str, Any]:
    """The JSON schema of the model's reply (sent as `response_format`)."""
    sentence = {"type": "object", "additionalProperties": False,
                "required": ["passage", "quote", "sentence"],
                "properties": {"passage": {"type": "integer"}, "quote": {"type": "string"},
                               "sentence": {"type": "string"}}}
    return {"type": "object", "additionalProperties": False, "required": ["answerable", "sentences"],
            "properties": {"answerable": {"type": "boolean"},
                           "sentences": {"type": "array", "items": sentence, "maxItems": max_sentences}}}


_FORMATS: dict[str, str] = {}  # base_url -> the form that server accepted (response_format "auto")


def response_format(settings: GeneratorSettings) -> dict[str, Any]:
    """`response_format` for the request: the schema in OpenAI's form or in llama-cpp-python's
    (`settings.response_format`; "auto" remembers which one each server took), or JSON mode."""
    form = settings.response_format
    if form == "auto":
        form = _FORMATS.get(settings.base_url, "json_schema")
    schema = response_schema(settings.max_sentences)
    if form == "json_object":
        return {"type": "json_object"}
    if form == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "cited_answer", "strict": True, "schema": schema}}


def prompt(question: str, passages: Sequence[Passage], settings: GeneratorSettings) -> list[dict[str, str]]:
    """The chat messages: rules and the reply format, then the numbered passages and the question."""
    numbered = "\n\n".join(
        f"[{i}] {p.title}\n{' '.join(p.chunk.text.split())[:settings.passage_chars]}"
        for i, p in enumerate(passages, start=1))
    return [{"role": "system", "content": SYSTEM.replace("{max_sentences}", str(settings.max_sentences))},
            {"role": "user", "content": f"Passages:\n\n{numbered}\n\nQuestion: {question}"}]


def passage_number(value: Any) -> int | None:
    """The passage number the model gave (an int, or text like "2" or "[2]"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    match = re.search(r"\d+", value) if isinstance(value, str) else None
    return int(match.group(0)) if match else None


@dataclass
class Assembly:
    """The sentences verified so far for one answer, their citations, and the dropped count."""

    index: Index
    passages: Sequence[Passage]
    settings: GeneratorSettings
    kept: list[GeneratedSentence] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    dropped: int = 0
    considered: int = 0
    _numbers: dict[tuple[str, int, int], int] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _words: frozenset[str] | None = None

    def add(self, item: Any) -> GeneratedSentence | None:
        """Verify one element of the reply's `sentences`; the shown sentence, or None if dropped."""
        self.considered += 1
        if not isinstance(item, dict) or not isinstance(item.get("sentence"), str) \
                or not isinstance(item.get("quote"), str):
            self.dropped += 1
            return None
        text = " ".join(MARKER.sub("", item["sentence"]).split())
        if text.lower() in self._seen:  # small models repeat themselves
            self.dropped += 1
            return None
        self._seen.add(text.lower())
        if self._words is None:
            self._words = lowercase_vocabulary(self.index, self.passages)
        verdict = verify_sentence(self.index, self.passages, text, item["quote"],
                                  passage_number(item.get("passage")),
                                  min_quote_words=self.settings.min_quote_words,
                                  support_cosine=self.settings.support_cosine, lowercase_words=self._words)
        self.verdicts.append(verdict)
        citation = self._citation(verdict) if verdict.kept else None
        if citation is None:
            self.dropped += 1
            return None
        shown = GeneratedSentence(text, citation, verdict)
        self.kept.append(shown)
        return shown

    def _citation(self, verdict: Verdict) -> Citation | None:
        """The numbered citation of a kept sentence's span (one number per distinct span), checked
        like every extractive citation (`citations.verified`)."""
        assert verdict.passage is not None
        key = (verdict.passage.chunk.doc_id, verdict.start, verdict.end)
        n = self._numbers.get(key, len(self._numbers) + 1)
        made = cite(self.index, [(verdict.passage, verdict.start, verdict.end, verdict.cosine or 0.0)])[0]
        if not verified(self.index, [made], list(self.passages)):
            return None
        self._numbers[key] = n
        return made.model_copy(update={"n": n})

    def answer(self, question: str) -> Answer:
        """The generated answer from the kept sentences: "sentence [n] sentence [m] ..."."""
        citations: dict[int, Citation] = {}
        for shown in self.kept:
            citations.setdefault(shown.citation.n, shown.citation)
        return Answer(question=question, answer=" ".join(f"{s.text} [{s.citation.n}]" for s in self.kept),
                      abstained=False, citations=[citations[n] for n in sorted(citations)],
                      style="generated", dropped=self.dropped)


def fallback(extractive: Answer, reason: str, dropped: int = 0) -> Answer:
    """The extractive answer, labelled with why the generated one is not shown."""
    return extractive.model_copy(update={"style": "extractive", "fallback": reason, "dropped": dropped})


def refusal(extractive: Answer, dropped: int = 0) -> Answer:
    """The model said the passages do not answer: a refusal, with the extractive evidence (if any)
    shown as the closest passages."""
    related = extractive.related or [
        RelatedPassage(doc_id=c.doc_id, title=c.title, source=c.source, start=c.start, end=c.end,
                       quote=c.quote, score=c.score) for c in extractive.citations]
    return Answer(question=extractive.question, answer=REFUSAL, abstained=True, related=related,
                  style="generated", dropped=dropped)


def _attempt(assembly: Assembly, messages: list[dict[str, str]], deadline: float,
             reader: ObjectStream) -> Generator[GeneratedSentence, None, str]:
    """One request: yields sentences as they are verified; returns "ok", "refused", "enough",
    "malformed", or the failure's fallback label."""
    settings = assembly.settings
    try:
        for piece in stream_reply(settings, messages, response_format(settings), deadline):
            items = reader.feed(piece)
            if reader.answerable is False and not assembly.kept:
                return "refused"  # known at once: what follows (even cut off) changes nothing
            for item in items:
                if (shown := assembly.add(item)) is not None:
                    yield shown
                if assembly.considered >= settings.max_sentences:
                    return "enough"
    except GenerationFailed as exc:
        return exc.reason
    whole = reader.finish()
    if whole is None:
        return "ok" if reader.items else "malformed"
    rest = whole.get("sentences")
    if whole.get("answerable") is False and not assembly.kept:
        return "refused"
    if not isinstance(rest, list):
        return "ok" if reader.items else "malformed"
    for item in rest[len(reader.items):settings.max_sentences]:  # JSON the incremental read missed
        if (shown := assembly.add(item)) is not None:
            yield shown
    return "ok"


def stream_generated(index: Index, question: str, passages: Sequence[Passage],
                     extractive: Answer) -> Iterator[GenerationEvent]:
    """Verified sentences as they come, then `FinalAnswer` with the answer (see the module docstring)."""
    settings = index.settings.generator
    started = time.perf_counter()
    if not settings.base_url:
        yield FinalAnswer(_timed(fallback(extractive, "disabled"), extractive, started))
        return
    if extractive.abstained and not settings.ask_when_refused:
        yield FinalAnswer(_timed(fallback(extractive, "refused"), extractive, started))
        return
    deadline = time.monotonic() + settings.timeout_s
    assembly = Assembly(index, passages, settings)
    messages = prompt(question, passages, settings)
    retried = switched = False
    while True:
        reader = ObjectStream()
        outcome = yield from _attempt(assembly, messages, deadline, reader)
        if outcome == "schema rejected" and settings.response_format == "auto" and not switched:
            _FORMATS[settings.base_url] = "json_object_schema"  # llama-cpp-python's form
            switched = True
            continue
        if outcome != "malformed" or retried or time.monotonic() >= deadline:
            break
        retried = True
        messages = [*messages, {"role": "assistant", "content": reader.text[:2000]},
                    {"role": "user", "content": RETRY}]
    if assembly.kept:
        answer = assembly.answer(extractive.question)
    elif outcome == "refused":
        answer = refusal(extractive, assembly.dropped)
    else:
        reason = "nothing verified" if outcome in ("ok", "enough") else outcome
        answer = fallback(extractive, reason, assembly.dropped)
    yield FinalAnswer(_timed(answer, extractive, started))


def generate_answer(index: Index, question: str, passages: Sequence[Passage], extractive: Answer) -> Answer:
    """The generated answer (or the labelled extractive fallback) for `question`."""
    for event in stream_generated(index, question, passages, extractive):
        if isinstance(event, FinalAnswer):
            return event.answer
    raise AssertionError("stream_generated always ends with FinalAnswer")


def _timed(answer: Answer, extractive: Answer, started: float) -> Answer:
    generate_ms = round((time.perf_counter() - started) * 1000, 2)
    timings = {**extractive.timings_ms, "generate_ms": generate_ms}
    timings["total_ms"] = round(extractive.timings_ms.get("total_ms", 0.0) + generate_ms, 2)
    return answer.model_copy(update={"timings_ms": timings})


def shown_sentences(answer: Answer) -> list[tuple[str, int]]:
    """The (sentence, citation number) pairs of a generated answer's text; [] for other answers."""
    if answer.style != "generated" or answer.abstained:
        return []
    return [(m.group(1), int(m.group(2))) for m in SHOWN.finditer(answer.answer)]


def generation_counts(answer: Answer) -> dict[str, Any]:
    """What an evaluation counts for one answer asked in generated style: sentences shown (kept),
    rejected by the verifier (dropped), and why it fell back to extractive (None when it did not)."""
    return {"style": answer.style, "kept": len(shown_sentences(answer)), "dropped": answer.dropped,
            "fallback": answer.fallback, "refused": answer.abstained and answer.style == "generated"}
