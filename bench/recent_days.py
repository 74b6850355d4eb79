"""Choose `retrieval.recent_days` on the RealTime QA DEV half: every dev question asked as of its
date, once per window; first-citation hit, answer-contains and ask p50 per window. Test is never read.

The index must hold the RealTime QA corpus with its publish dates (build it once with
`rag eval --beir ../shared/bench-data/realtimeqa-2022 --answers --split dev --index-dir R`).

    python bench/recent_days.py --rtqa-index R [--days 0 4 7 10 14 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tune_answer import RTQA

from rag import load_answer_questions, load_settings, open_index, run_gold, select_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtqa-index", type=Path, required=True)
    parser.add_argument("--days", type=int, nargs="+", default=[0, 4, 7, 10, 14, 30])
    args = parser.parse_args()
    questions = select_split(load_answer_questions(RTQA)[1], "dev")
    undated = [q.model_copy(update={"as_of": None}) for q in questions]
    print("| recent_days | first-citation hit | answer-contains | choice accuracy | ask p50 ms |")
    print("|---|---:|---:|---:|---:|")
    for days in [None, *args.days]:
        settings = load_settings(index_dir=args.rtqa_index)
        if days is not None:
            settings = settings.with_overrides(**{"retrieval.recent_days": days})
        with open_index(settings) as index:
            summary = run_gold(index, undated if days is None else questions)["summary"]
        label = "no as_of" if days is None else str(days)
        print(f"| {label} | {summary['hit@1']:.4f} | {summary['answer_contains']:.4f} | "
              f"{summary['choice_accuracy']:.4f} | {summary['latency_p50_ms']:.1f} |")


if __name__ == "__main__":
    main()
