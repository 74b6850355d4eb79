"""Score answers dumped by another version of rag (JSON Lines of {"id", "latency_ms", "answer"})
with today's answer metrics, per split: the "before" columns of eval/README.md's tables.

    python bench/score_answers.py --gold eval/seeds.jsonl --answers before.jsonl
    python bench/score_answers.py --beir ../shared/bench-data/realtimeqa-2022 --answers before.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag import Answer, judge_answer, load_answer_questions, load_gold, summarize_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gold", type=Path)
    parser.add_argument("--beir", type=Path)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    questions = load_gold(args.gold) if args.gold else load_answer_questions(args.beir)[1]
    dumped = {row["id"]: row for row in map(json.loads, args.answers.read_text().splitlines()) if row}
    results = []
    for item in questions:
        row = dumped[item.id]
        answer = Answer.model_validate({k: v for k, v in row["answer"].items() if k in Answer.model_fields})
        results.append(judge_answer(item, answer, row["latency_ms"]))
    splits = {s: summarize_results([r for r in results if r.split == s]) for s in ("dev", "test")}
    report = {"all": summarize_results(results), **splits}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": report, "questions": [r.model_dump() for r in results]}, indent=1))


if __name__ == "__main__":
    main()
