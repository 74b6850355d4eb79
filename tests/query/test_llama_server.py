"""Generated answers from a real llama.cpp server (Gemma 3 270M, a small base model) over the seeds
gold set, through a recording proxy: slow tier.

The model answers poorly; what is asserted are the invariants. Every citation of every answer
quotes its document exactly, inside a retrieved passage; every sentence shown passed the verifier;
every request carried the JSON schema. The run's figures (latency, retries, kept / dropped /
fallback, why sentences were dropped) go to test-artifacts/generated-seeds.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from corpus_tools import ROOT
from llama_tools import start_llama
from llm_stub import RecordingProxy

from rag import ask, generation_counts, load_gold, search, shown_sentences, verify_sentence
from rag.query.citations import verified
from rag.query.generation import response_schema
from rag.query.llm import ObjectStream

pytestmark = pytest.mark.slow

GOLD = Path(__file__).resolve().parents[2] / "eval" / "seeds.jsonl"
GOLD_QUESTIONS = os.environ.get("RAG_TEST_LLM_QUESTIONS", "16")  # a count of test questions, or "all"
EVAL_QUESTIONS = int(os.environ.get("RAG_TEST_LLM_EVAL_QUESTIONS", "6"))  # `rag eval --answer generated`


def gold_part() -> list:
    """The first questions of the gold set's test split (16 by default: each costs 5-30 s of a 270M
    model on 2 cores; RAG_TEST_LLM_QUESTIONS=56 runs the whole split, =all the whole gold set)."""
    if GOLD_QUESTIONS == "all":
        return load_gold(GOLD)
    return [q for q in load_gold(GOLD) if q.split == "test"][:int(GOLD_QUESTIONS)]


FALLBACKS = {"refused", "timeout", "unreachable", "malformed", "nothing verified"}


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    server = start_llama(tmp_path_factory.mktemp("llama"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(llama):
    with RecordingProxy(llama.root) as recording:
        yield recording


def model_text(raw: str) -> str:
    """The content the model streamed, from the raw server-sent events."""
    pieces = []
    for line in raw.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                pieces.append((choice.get("delta") or {}).get("content") or "")
    return "".join(pieces)


@pytest.fixture(scope="module")
def gold_run(seeds_loaded, proxy, artifacts):
    """Every gold question asked in generated style, with its passages and the model's replies."""
    index = seeds_loaded
    section = index.settings.generator
    saved = section.model_dump()
    # A 270M model on a shared CPU: up to 90 s an answer and 200 tokens (one reply's worth of
    # sentences); a reply cut short keeps the sentences it finished.
    section.base_url, section.model, section.timeout_s, section.max_tokens = proxy.url, "gemma-3-270m", 90.0, 200
    rows = []
    try:
        for item in gold_part():
            before = len(proxy.requests)
            started = time.perf_counter()
            answer = ask(index, item.question, style="generated")
            seconds = time.perf_counter() - started
            extractive = ask(index, item.question)
            passages = search(index, item.question, index.settings.answer.passages)
            rows.append({"item": item, "answer": answer, "extractive": extractive, "passages": passages,
                         "seconds": seconds, "slots": range(before, len(proxy.requests))})
    finally:
        for key, value in saved.items():
            setattr(section, key, value)
    deadline = time.monotonic() + 30  # the proxy files a reply once the model server has finished it
    while len(proxy.responses) < len(proxy.requests) and time.monotonic() < deadline:
        time.sleep(0.2)
    for row in rows:
        row["requests"] = [proxy.requests[i] for i in row["slots"]]
        raw = [proxy.responses.get(i, "") for i in row["slots"]]
        row["replies"] = [model_text(r) for r in raw if "data: " in r]  # not the schema refusal (500)
    write_report(index, rows, artifacts / "generated-seeds.json")
    return rows


def write_report(index, rows, path: Path) -> None:
    """The figures of the run: what the model did, and what the verifier made of it."""
    settings = index.settings.generator
    questions = []
    for row in rows:
        answer, item = row["answer"], row["item"]
        sentences = []
        for reply in row["replies"]:
            reader = ObjectStream()
            reader.feed(reply)
            for obj in reader.items:
                if isinstance(obj, dict) and isinstance(obj.get("sentence"), str) \
                        and isinstance(obj.get("quote"), str):
                    verdict = verify_sentence(index, row["passages"], obj["sentence"], obj["quote"],
                                              obj.get("passage") if isinstance(obj.get("passage"), int) else None,
                                              min_quote_words=settings.min_quote_words,
                                              support_cosine=settings.support_cosine)
                    sentences.append({**obj, "kept": verdict.kept, "reason": verdict.reason,
                                      "cosine": verdict.cosine})
        contains = [s.lower() in answer.answer.lower() for s in item.answer_contains]
        extractive_contains = [s.lower() in row["extractive"].answer.lower() for s in item.answer_contains]
        questions.append({
            "id": item.id, "question": item.question, "answerable": item.answerable,
            **generation_counts(answer), "seconds": round(row["seconds"], 3),
            "generate_ms": answer.timings_ms.get("generate_ms"), "requests": len(row["requests"]),
            "valid_json": [_json_ok(r) for r in row["replies"]],
            "answer": answer.answer, "contains": all(contains) if contains else None,
            "extractive_contains": all(extractive_contains) if extractive_contains else None,
            "sentences": sentences, "replies": row["replies"]})
    asked = [q for q in questions if q["requests"]]
    summary = {
        "questions": len(questions), "model_asked": len(asked),
        "requests": sum(q["requests"] for q in questions),
        "replies_valid_json": sum(sum(q["valid_json"]) for q in questions),
        "replies_by_kind": dict(Counter(reply_kind(r) for q in questions for r in q["replies"])),
        "sentence_objects": sum(len(q["sentences"]) for q in questions),
        "drop_reasons": dict(Counter(s["reason"].split(" to its")[0] for q in questions for s in q["sentences"]
                                     if not s["kept"])),
        "generated": sum(q["style"] == "generated" and not q["refused"] for q in questions),
        "model_refusals": sum(q["refused"] for q in questions),
        "fallbacks": {reason: sum(q["fallback"] == reason for q in questions)
                      for reason in sorted({q["fallback"] for q in questions if q["fallback"]})},
        "sentences_kept": sum(q["kept"] for q in questions),
        "sentences_dropped": sum(q["dropped"] for q in questions),
        "seconds_per_asked_question": {
            "mean": round(statistics.mean(q["seconds"] for q in asked), 2) if asked else None,
            "median": round(statistics.median(q["seconds"] for q in asked), 2) if asked else None,
            "max": round(max(q["seconds"] for q in asked), 2) if asked else None},
        "answer_contains": {
            "generated_mode": sum(bool(q["contains"]) for q in questions if q["answerable"]),
            "extractive": sum(bool(q["extractive_contains"]) for q in questions if q["answerable"]),
            "answerable": sum(q["answerable"] for q in questions)},
        "settings": settings.model_dump(mode="json", exclude={"api_key"}),
    }
    path.write_text(json.dumps({"summary": summary, "questions": questions}, indent=2, ensure_ascii=False))


def _json_ok(reply: str) -> bool:
    reader = ObjectStream()
    reader.feed(reply)
    return reader.finish() is not None


def reply_kind(reply: str) -> str:
    """What a reply was, as far as it was read (rag stops reading at a refusal)."""
    reader = ObjectStream()
    reader.feed(reply)
    if reader.answerable is False:
        return "refusal"
    if reader.finish() is not None:
        return "complete JSON"
    return "cut off after a complete sentence object" if reader.items else "unparseable"


def test_every_citation_quotes_its_source_exactly(gold_run, seeds_loaded):
    index = seeds_loaded
    assert len(gold_run) == len(gold_part())
    for row in gold_run:
        answer = row["answer"]
        for c in answer.citations:
            assert index.documents[c.doc_id].text[c.start:c.end] == c.quote, (row["item"].id, c)
        assert verified(index, answer.citations, row["passages"]) == answer.citations, row["item"].id


def test_every_shown_sentence_passed_verification(gold_run, seeds_loaded):
    index = seeds_loaded
    settings = index.settings.generator
    for row in gold_run:
        answer = row["answer"]
        if answer.style != "generated":
            assert answer.fallback in FALLBACKS, (row["item"].id, answer.fallback)
            assert answer.answer == row["extractive"].answer  # the extractive answer, labelled
            continue
        if answer.abstained:  # the model's refusal
            assert not answer.citations and not shown_sentences(answer)
            continue
        shown = shown_sentences(answer)
        assert shown and " ".join(f"{s} [{n}]" for s, n in shown) == answer.answer, row["item"].id
        by_n = {c.n: c for c in answer.citations}
        assert sorted(by_n) == sorted({n for _, n in shown})
        for sentence, n in shown:
            verdict = verify_sentence(index, row["passages"], sentence, by_n[n].quote, None,
                                      min_quote_words=settings.min_quote_words,
                                      support_cosine=settings.support_cosine)
            assert verdict.kept, (row["item"].id, sentence, verdict.reason)
        assert answer.dropped == generation_counts(answer)["dropped"] >= 0


def test_the_schema_is_sent_with_every_request(gold_run, seeds_loaded):
    """OpenAI's json_schema form first; llama-cpp-python's server refuses it (500), and from then on
    the same schema goes as {"type": "json_object", "schema": ...}, the form that server enforces."""
    expected = response_schema(seeds_loaded.settings.generator.max_sentences)
    requests = [request for row in gold_run for request in row["requests"]]
    assert requests, "the model was never asked"
    first, rest = requests[0]["response_format"], [r["response_format"] for r in requests[1:]]
    assert first == {"type": "json_schema", "json_schema": {"name": "cited_answer", "strict": True,
                                                            "schema": expected}}
    assert rest and all(sent == {"type": "json_object", "schema": expected} for sent in rest)
    assert expected["required"] == ["answerable", "sentences"]
    assert expected["properties"]["sentences"]["items"]["required"] == ["passage", "quote", "sentence"]
    for row in gold_run:
        assert all(r["stream"] is True and r["model"] == "gemma-3-270m" for r in row["requests"])
        if row["answer"].fallback != "refused":
            assert row["requests"], row["item"].id  # asked: at least one request went out


def test_rag_eval_reports_the_generated_answers(llama, seeds_index, tmp_path, artifacts):
    """`rag eval --split test --answer generated` against the real server, on the first
    RAG_TEST_LLM_EVAL_QUESTIONS (6) questions of the test split: the generation figures are in the
    summary, overall and for the split, and every sentence shown re-verifies from the stored text."""
    gold = tmp_path / "seeds-part.jsonl"
    gold.write_text("".join(q.model_dump_json() + "\n" for q in gold_part()[:EVAL_QUESTIONS]))
    report_path = artifacts / "eval-seeds-generated.json"
    env = {**os.environ, "RAG_GENERATOR__BASE_URL": llama.url, "RAG_GENERATOR__MODEL": "gemma-3-270m",
           "RAG_GENERATOR__TIMEOUT_S": "90", "RAG_GENERATOR__MAX_TOKENS": "200"}
    done = subprocess.run([sys.executable, "-m", "rag.cli", "eval", "--gold", str(gold), "--split", "test",
                           "--answer", "generated", "--index-dir", str(seeds_index.index_dir),
                           "--json", str(report_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=EVAL_QUESTIONS * 100 + 120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (artifacts / "eval-seeds-generated.txt").write_text(done.stdout)
    for shown in ("generated_share", "fallback_rate", "dropped_rate", "citation_precision", "answer_contains"):
        assert shown in done.stdout, shown
    report = json.loads(report_path.read_text())
    summary, rows = report["summary"], report["questions"]
    assert summary["questions"] == len(rows) == min(EVAL_QUESTIONS, len(gold_part()))
    assert set(report["splits"]) == {"test"} and report["splits"]["test"]["questions"] == len(rows)
    assert summary["generated_share"] + summary["fallback_rate"] == pytest.approx(1.0)
    for row in rows:
        assert row["style"] in ("generated", "extractive"), row
        assert (row["fallback"] is None) == (row["style"] == "generated"), row
        assert row["fallback"] is None or row["fallback"] in FALLBACKS, row
        assert row["supported"] == row["kept"], row  # shown only when verified: re-verified too
    kept = sum(r["kept"] for r in rows)
    assert summary["sentences_kept"] == kept
    assert summary["citation_precision"] == (1.0 if kept else None)
    assert report["generator"]["base_url"] == llama.url
