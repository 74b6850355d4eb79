"""The reader network: the bundled MiniLM encoder (first `layers` layers) with two small heads.

- answer head: mean of the token states -> one logit, P(this sentence answers the question).
  (all-MiniLM-L6-v2 was trained with mean pooling; a first-token head did not learn, see
  `../shared/design/reader.md`.)
- span head: per-token start and end logits, the short answer inside the sentence.

Only training imports this module (torch); questions run the ONNX export (`rag.query.reader`).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel


class Reader(nn.Module):
    def __init__(self, base_path: str, layers: int = 6) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(base_path)
        self.encoder.encoder.layer = self.encoder.encoder.layer[:layers]
        self.encoder.config.num_hidden_layers = layers
        hidden = self.encoder.config.hidden_size
        self.answer = nn.Linear(hidden, 1)
        self.span = nn.Linear(hidden, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logit = self.answer(pooled).squeeze(-1)
        # the span lies in the sentence: question, special and padding tokens are masked out
        allowed = (token_type_ids == 1) & (attention_mask == 1)
        span = self.span(states).masked_fill(~allowed.unsqueeze(-1), -1e4)
        return logit, span[..., 0], span[..., 1]
