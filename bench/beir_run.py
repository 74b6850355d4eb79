"""Run the BEIR harness on one data set folder and print the metrics table.

    .venv/bin/python bench/beir_run.py ../shared/bench-data/scifact
    .venv/bin/python bench/beir_run.py DIR --json out.json --set chunking.max_tokens=128 \
        --set retrieval.rrf_k=20 --modes dense,hybrid --limit 50

Settings come from the RAG_* environment plus `--set section.key=value` overrides (values are
parsed as JSON when they can be, else taken as strings). Unless `--set index_dir=...` is given,
the index goes to /tmp/beir-<data set>-<hash of the index settings>, so configurations that share
chunking and model share one index and its embedding cache. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rag import BEIR_MODES, default_index_dir, format_beir_table, load_settings, run_beir


class StderrProgress:
    """Prints each stage and its progress every ~10% (or every 15 s) to stderr."""

    def __init__(self) -> None:
        self.name = ""
        self.total = 0
        self.done = 0
        self.next_mark = 0.0
        self.started = self.last = time.perf_counter()

    def stage(self, name: str, total: int) -> None:
        self.name, self.total, self.done, self.next_mark = name, total, 0, 0.1
        self.started = self.last = time.perf_counter()
        print(f"[{name}] 0/{total:,}", file=sys.stderr, flush=True)

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        share = self.done / self.total if self.total else 1.0
        if share >= self.next_mark or now - self.last > 15 or self.done == self.total:
            rate = self.done / max(now - self.started, 1e-9)
            print(f"[{self.name}] {self.done:,}/{self.total:,} ({share:.0%}, {rate:.1f}/s)",
                  file=sys.stderr, flush=True)
            self.next_mark = share + 0.1
            self.last = now


def parse_sets(pairs: list[str]) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        try:
            overrides[key.strip()] = json.loads(value)
        except ValueError:
            overrides[key.strip()] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="BEIR folder (corpus.jsonl[.gz], queries.jsonl, qrels/)")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="settings override, e.g. chunking.max_tokens=128 (repeatable)")
    parser.add_argument("--modes", default=",".join(BEIR_MODES), help="comma-separated: dense,keyword,hybrid")
    parser.add_argument("--depth", type=int, default=100, help="documents ranked per query")
    parser.add_argument("--split", default="test", help="qrels/<split>.tsv (e.g. train for tuning)")
    parser.add_argument("--limit", type=int, help="only the first N queries (smoke runs)")
    args = parser.parse_args(argv)

    overrides = parse_sets(args.set)
    settings = load_settings().with_overrides(**overrides)
    if "index_dir" not in overrides:
        settings = settings.with_overrides(index_dir=str(default_index_dir(args.folder, settings)))
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    report = run_beir(args.folder, settings, modes=modes, depth=args.depth,  # type: ignore[arg-type]
                      progress=StderrProgress(), limit_queries=args.limit, split=args.split)
    print(format_beir_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
