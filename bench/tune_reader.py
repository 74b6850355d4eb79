"""Choose the reader's answer settings on dev data only, and write them into reader.json.

    python bench/tune_reader.py --seeds-index S [--candidates 4 6 8] [--blends 0 2 8] [--write]

What the rows are and how each setting is chosen: `rag.eval.reader_tuning` (seeds dev split and
seeds_dev_extra.jsonl only; never a test split). `--write` stores the choice in
rag/reader_model/reader.json (its `answer` block); the table is printed either way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag import READER_FOLDER, tune_reader


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds-index", type=Path, required=True)
    ap.add_argument("--candidates", type=int, nargs="+", default=[4, 6, 8])
    ap.add_argument("--blends", type=float, nargs="+", default=[0.0, 2.0, 8.0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    lines, choice = tune_reader(args.seeds_index, args.candidates, args.blends)
    print("\n".join(lines))
    print(json.dumps({k: v for k, v in choice.items() if k != "calibration"}),
          "threshold", choice["calibration"]["threshold"])
    if args.write:
        path = READER_FOLDER / "reader.json"
        info = json.loads(path.read_text())
        info["answer"] = {**info.get("answer", {}), **choice}  # keeps `follow` (chosen on RealTime QA 2025 dev)
        path.write_text(json.dumps(info, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
