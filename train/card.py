"""Write rag/reader_model/MODEL_CARD.md from its reader.json: `python -m train.card [FOLDER]`.

The card names the data and their licences, the commands that made the weights, the dev figures
recorded in reader.json and the sha256 of the shipped weights (a test checks it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "rag" / "reader_model"

TEMPLATE = """# The rag reader (question-sentence cross-encoder with a short-answer span head)

- **What it does**: given a question and one candidate sentence, P(the sentence answers the
  question) and the start/end word pieces of the short answer inside the sentence. The answer stage
  reads the best-scored sentences of the retrieved passages with it (`rag/query/reader.py`).
- **Base**: {base}, its first {layers} layers; a mean-pooled linear answer head and a per-token
  span head. Exported to ONNX and quantized to {precision} (onnxruntime dynamic quantization, per
  channel). Maximum input: {max_length} word pieces (question and sentence).
- **Weights**: `reader.onnx`, sha256 `{sha256}`; tokenizer `tokenizer.json` (the base model's),
  sha256 `{tokenizer_sha256}`.

## Training data (`../shared/train-data`, read by path, never copied)

| data | use | licence |
|---|---|---|
| SQuAD 2.0 half-dev (6,078 questions; the sentence holding the answer is a positive with its span, the sentence holding an unanswerable question's plausible answer a hard negative, one other sentence an easy negative) | train | CC BY-SA 4.0 |
| SelQA answer-sentence selection, dev and test (labelled answer sentences, up to 3 other candidates) | train | Apache-2.0 |
| RealTime QA 2023 and 2024 news quizzes with each question's top-10 search results: distant labels (a sentence holding the gold option as whole words and sharing two content terms with the question is a positive; sentences holding a wrong option or close in words are hard negatives) | train | none stated (research use) |
| RealTime QA 2025 | dev (choices only) | none stated (research use) |

Never used: RealTime QA 2022 (test), the seeds test split (test), RealTime QA 2026 and later (blind).
Label noise of the RealTime QA distant positives, judged by hand on 30 random training positives:
18 answer the question, 12 do not (a sentence that mentions the answer in another context).

## Commands

```
python -m train.train_reader --out WORK --layers {layers} --epochs {epochs}   # {train_minutes} min on {device}
python -m train.export --work WORK --out rag/reader_model --layers {layers}
python bench/tune_reader.py --seeds-index S --write     # answer settings, seeds dev only
python -m train.card
```

Fixed seed 13; {pairs} training pairs, batch 32, AdamW (encoder 5e-5, heads 1e-3), linear warm-up
(5%) and decay, loss = answer BCE + 0.5 x span cross-entropy.

## Dev figures (RealTime QA 2025 distant pairs: AUC of the answer head; top-1 = share of questions
with a positive whose best-read candidate is one)

```
{dev}
```

## Answer settings chosen on dev (reader.json `answer`)

```
{answer}
```
"""


def write_card(folder: Path = FOLDER) -> Path:
    info = json.loads((folder / "reader.json").read_text())
    train = info.get("train", {})
    text = TEMPLATE.format(
        base=info["base"], layers=info["layers"], precision=info["precision"], max_length=info["max_length"],
        sha256=info["sha256"], tokenizer_sha256=info["tokenizer_sha256"], epochs=train.get("epochs", "?"),
        train_minutes=train.get("train_minutes", "?"), device=train.get("device", "?") + " (2 cores)",
        pairs=train.get("pairs", "?"), dev=json.dumps(info.get("dev_rtqa2025_pairs", {}), indent=2),
        answer=json.dumps(info.get("answer", {}), indent=2))
    path = folder / "MODEL_CARD.md"
    path.write_text(text)
    return path


if __name__ == "__main__":
    print(write_card(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER))
