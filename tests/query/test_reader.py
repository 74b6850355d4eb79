"""The trained reader: shipped weights as the card says, it reads answers apart from on-topic
non-answers (constructed pairs, from no eval set), its short answer lies inside the cited quote,
a damaged model is one clear error, and reader off gives the answers of before the reader."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from corpus_tools import ROOT

from rag.calibration import READER_FOLDER, reader_info
from rag.config import load_settings
from rag.errors import ModelUnavailable
from rag.index.reader import open_index
from rag.query.answering import ask
from rag.query.reader import Reader, shipped_reader

OFF_REFERENCE = Path(__file__).parent / "data" / "reader_off_answers.json"

# (question, the sentence that answers it, on-topic sentences that do not)
PAIRS = [
    ("How many tanks did the ministry order in March?",
     "In March the ministry ordered 44 tanks from the Kassel plant.",
     ["The ministry has long debated whether tanks are still useful.",
      "Tank units took part in the March exercises near the border."]),
    ("Who was appointed head of the central bank?",
     "The government appointed Maria Lindqvist as head of the central bank on Tuesday.",
     ["The central bank kept its interest rate unchanged on Tuesday.",
      "Critics said the head of the central bank should be independent of the government."]),
    ("When did the bridge reopen to traffic?",
     "The bridge reopened to traffic on 14 October, two months after the collapse.",
     ["Traffic on the bridge had been heavy for years before the collapse.",
      "Engineers inspected the bridge after the collapse to find its cause."]),
    ("How much compensation did the airline pay the passengers?",
     "The airline paid each passenger $1,200 in compensation for the cancelled flight.",
     ["Passengers demanded compensation after the airline cancelled the flight.",
      "The airline received $40 billion in government aid during the pandemic."]),
    ("Which city will host the 2031 summit?",
     "Organizers announced that Lisbon will host the 2031 summit.",
     ["The 2031 summit is expected to draw leaders from forty countries.",
      "Several cities have hosted the summit in past decades."]),
    ("What caused the power outage in the northern district?",
     "A fire at the Elm Street substation caused the power outage in the northern district.",
     ["The power outage in the northern district lasted for nine hours.",
      "Residents of the northern district complained about the outage on social media."]),
]


def test_shipped_weights_match_the_model_card():
    info = json.loads((READER_FOLDER / "reader.json").read_text())
    digest = hashlib.sha256((READER_FOLDER / "reader.onnx").read_bytes()).hexdigest()
    assert digest == info["sha256"]
    card = (READER_FOLDER / "MODEL_CARD.md").read_text()
    assert digest in card, "the model card must name the sha256 of the shipped weights"
    assert (READER_FOLDER / "reader.onnx").stat().st_size < 26 * 2**20
    assert {"candidates", "blend", "short_answer_min", "calibration"} <= set(info["answer"])
    assert 0 < info["answer"]["calibration"]["threshold"] < 1


def test_reader_ranks_the_answer_above_on_topic_sentences():
    """On pairs written for this test (from no eval set), the answering sentence reads highest in
    at least 5 of the 6 (measured at training: 5; "what caused the power outage" ranks "the outage
    lasted nine hours" higher)."""
    first = []
    for question, answer, others in PAIRS:
        readings = shipped_reader().read(question, [answer, *others])
        first.append(readings[0].probability > max(r.probability for r in readings[1:]))
    assert sum(first) >= 5, first


def test_reader_marks_the_answer_words():
    question, sentence = "Who was appointed head of the central bank?", PAIRS[1][1]
    reading = shipped_reader().read(question, [sentence])[0]
    assert "Lindqvist" in sentence[reading.span_start:reading.span_end]


def test_damaged_or_missing_reader_is_one_clear_error(tmp_path):
    copy = tmp_path / "reader_model"
    shutil.copytree(READER_FOLDER, copy)
    data = bytearray((copy / "reader.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "reader.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="damaged"):
        Reader(copy)
    (copy / "reader.onnx").unlink()
    with pytest.raises(ModelUnavailable, match="missing"):
        reader_info(copy)


@pytest.mark.slow
def test_short_answer_lies_inside_the_cited_quote(seeds_loaded):
    gold = [json.loads(line) for line in (ROOT / "eval" / "seeds.jsonl").read_text().splitlines()]
    shown = 0
    for item in gold:
        answer = ask(seeds_loaded, item["question"])
        short = answer.short_answer
        if short is None:
            continue
        shown += 1
        cited = next(c for c in answer.citations if c.n == short.n)
        text = seeds_loaded.documents[short.doc_id].text
        assert short.doc_id == cited.doc_id and cited.start <= short.start < short.end <= cited.end
        assert text[short.start:short.end] == short.text
    assert shown >= 5, "the reader should be sure of some short answers on the seeds"


@pytest.mark.slow
def test_reader_off_gives_the_answers_of_before(seeds_index):
    """Answers with RAG_ANSWER__READER=off equal those the answer stage gave before the reader
    (written by that code, commit 65f1cdb, on the same seeds: tests/query/data/)."""
    settings = load_settings(index_dir=seeds_index.index_dir, answer={"reader": "off"})
    reference = json.loads(OFF_REFERENCE.read_text())
    with open_index(settings) as index:
        for question, before in reference.items():
            answer = ask(index, question)
            assert answer.short_answer is None
            got = {"answer": answer.answer, "cited": [[c.doc_id, c.start, c.end] for c in answer.citations]}
            assert got == before, question


@pytest.mark.slow
def test_manifest_records_the_reader(seeds_loaded):
    record = seeds_loaded.manifest["answer"]
    assert record["reader"]["sha256"] == reader_info()["sha256"]
    assert record["reader"]["fitted"] == reader_info()["answer"]
    assert record["settings"]["reader"] == "on"
