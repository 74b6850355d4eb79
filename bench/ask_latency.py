"""`ask` latency on the seeds index with the model already loaded, and gold metrics per mode.

Usage: python bench/ask_latency.py [--index-dir index] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from rag import ask, load_gold, load_settings, open_index, run_gold

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index-dir", default="index")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    questions = load_gold(ROOT / "eval" / "seeds.jsonl")
    print("| mode | hit@1 | hit@k | MRR | refusal recall | false refusals | answer_contains | ask p50 ms | ask p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in ("hybrid", "dense", "keyword"):
        index = open_index(load_settings(index_dir=args.index_dir).with_overrides(**{"retrieval.mode": mode}))
        ask(index, "warm-up question")
        times = []
        for _ in range(args.repeat):
            for q in questions:
                started = time.perf_counter()
                ask(index, q.question)
                times.append((time.perf_counter() - started) * 1000)
        s = run_gold(index, questions)["summary"]
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(f"| {mode} | {s['hit@1']:.3f} | {s['hit@k']:.3f} | {s['mrr']:.3f} | {s['refusal_recall']:.3f} | "
              f"{s['false_refusal_rate']:.3f} | {s['answer_contains']:.3f} | {statistics.median(times):.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
