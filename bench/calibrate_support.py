"""Calibrate `generator.support_cosine`: how close (by the embedding model) a generated sentence must
be to its quote to be kept.

Dev set: eval/support_dev.jsonl, 16 quotes from the seeds, each with a faithful paraphrase
(supported) and a sentence that keeps the quote's names and numbers but says something else
(contradiction). Every paraphrase paired with the 15 other quotes gives the misattributed pairs: a
true-looking sentence citing the wrong quote, which is what the cosine check is for.

For each threshold it prints the share of each kind the verifier's support check would keep: the
cosine alone, and together with the names/numbers/dates check (`missing_claims`), using the same
question encoder the verifier uses (`encode_queries`). Writes bench/results/support_calibration.json.

    python bench/calibrate_support.py [--json bench/results/support_calibration.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rag import load_encoder, load_settings, missing_claims

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "eval" / "support_dev.jsonl"
THRESHOLDS = [round(0.30 + 0.05 * i, 2) for i in range(13)]


def pairs() -> list[dict]:
    """Supported, contradiction and misattributed (sentence, quote) pairs from the dev set."""
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    out = [{"kind": "supported" if r["supported"] else "contradiction", "sentence": r["sentence"],
            "quote": r["quote"]} for r in rows]
    supported = [r for r in rows if r["supported"]]
    for row in supported:
        out += [{"kind": "misattributed", "sentence": row["sentence"], "quote": other["quote"]}
                for other in supported if other["quote"] != row["quote"]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "support_calibration.json")
    args = parser.parse_args()
    encoder = load_encoder(load_settings().embedding)
    rows = pairs()
    texts = sorted({t for r in rows for t in (r["sentence"], r["quote"])})
    vectors = dict(zip(texts, np.asarray(encoder.encode_queries(texts), dtype=np.float32), strict=True))
    for r in rows:
        r["cosine"] = round(float(vectors[r["sentence"]] @ vectors[r["quote"]]), 4)
        r["claims_ok"] = not missing_claims(r["sentence"], r["quote"])
    kinds = ["supported", "contradiction", "misattributed"]
    table = []
    print(f"{'threshold':>9}  " + "  ".join(f"{k + ' (cos / +claims)':>32}" for k in kinds))
    for t in THRESHOLDS:
        line = {"threshold": t}
        for kind in kinds:
            group = [r for r in rows if r["kind"] == kind]
            line[f"{kind}_kept_cosine"] = round(sum(r["cosine"] >= t for r in group) / len(group), 3)
            line[f"{kind}_kept_verifier"] = round(sum(r["cosine"] >= t and r["claims_ok"] for r in group)
                                                  / len(group), 3)
        table.append(line)
        print(f"{t:>9.2f}  " + "  ".join(f"{line[k + '_kept_cosine']:>15.3f} / {line[k + '_kept_verifier']:<14.3f}"
                                         for k in kinds))
    summary = {kind: {"n": len(g), "min": min(c), "median": float(np.median(c)), "max": max(c)}
               for kind in kinds if (g := [r for r in rows if r["kind"] == kind])
               and (c := [r["cosine"] for r in g])}
    print(json.dumps(summary, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"model": encoder.name, "dev_set": str(DEV.relative_to(ROOT)),
                                     "cosine_by_kind": summary, "thresholds": table, "pairs": rows},
                                    indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
