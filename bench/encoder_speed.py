"""Bulk encoder speed and fidelity: PyTorch fp32 / bf16 and ONNX fp32 / int8, on the same texts.

    .venv/bin/python bench/encoder_speed.py                         # 600 SciFact chunk texts, 2 rounds
    .venv/bin/python bench/encoder_speed.py --sample 2000 --rounds 3 --threads 1 --json out.json

The texts are an evenly spaced sample of SciFact's chunk texts (title-prefixed, exactly what a
build embeds). Each round times every encoder once, in turn, so a change in the machine's load
hits all of them alike; the table gives each encoder's best round in passages/s, its speed
relative to PyTorch fp32, and the lowest and mean cosine of its vectors to PyTorch fp32's. The
load average before and after is printed: on a busy machine compare only the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from rag import EmbeddingSettings, chunk_corpus, cores, embedding_text, load_beir, load_encoder, load_settings


def sample_texts(data: Path, sample: int) -> list[str]:
    documents, _, _ = load_beir(data)
    settings = load_settings()
    encoder = load_encoder(EmbeddingSettings(precision="fp32"))
    by_id = {d.doc_id: d for d in documents}
    texts = [embedding_text(c, by_id[c.doc_id], settings) for c in chunk_corpus(settings, documents, encoder)]
    return texts[::max(1, len(texts) // sample)][:sample]


def encoders(threads: int) -> dict:
    """Each bulk encoder; the ONNX fp32 one is the int8 encoder's graph before quantization."""
    out = {name: load_encoder(EmbeddingSettings(precision=p, threads=threads))
           for name, p in (("torch fp32", "fp32"), ("torch bf16", "bf16"), ("onnx int8", "int8"))}
    onnx_fp32 = type(out["onnx int8"])(out["onnx int8"].export, precision="fp32", threads=threads)
    return {"torch fp32": out["torch fp32"], "torch bf16": out["torch bf16"],
            "onnx fp32": onnx_fp32, "onnx int8": out["onnx int8"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench-data" / "scifact")
    parser.add_argument("--sample", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    texts = sample_texts(args.data, args.sample)
    models = encoders(args.threads)
    for model in models.values():
        model.encode(texts[:32])  # warm-up: first calls allocate and pick kernels
    load_before = os.getloadavg()[0]
    best: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for name, model in models.items():
            began = time.perf_counter()
            vectors[name] = model.encode(texts)
            best[name] = max(best.get(name, 0.0), len(texts) / (time.perf_counter() - began))
    load_after = os.getloadavg()[0]
    reference = vectors["torch fp32"]
    rows = {name: {"passages_per_s": round(best[name], 2), "vs_torch_fp32": round(best[name] / best["torch fp32"], 2),
                   "min_cosine": round(float(np.min(np.sum(vectors[name] * reference, axis=1))), 5),
                   "mean_cosine": round(float(np.mean(np.sum(vectors[name] * reference, axis=1))), 5)}
            for name in models}
    print(f"{len(texts)} SciFact chunk texts, {args.threads or cores()} threads, best of {args.rounds} rounds\n")
    print("| encoder | passages/s | vs torch fp32 | min cosine to fp32 | mean cosine |\n|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['passages_per_s']} | {r['vs_torch_fp32']}x | {r['min_cosine']} | {r['mean_cosine']} |")
    print(f"\nload average {load_before:.2f} before, {load_after:.2f} after ({os.cpu_count()} CPUs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"texts": len(texts), "threads": args.threads or cores(), "rows": rows,
                                         "load": [load_before, load_after]}, indent=2))


if __name__ == "__main__":
    main()
