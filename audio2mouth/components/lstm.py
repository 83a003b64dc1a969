"""The recurrent baselines, pure torch: a time-delayed LSTM and a Bi-LSTM.

Time-delayed LSTM (Suwajanakorn et al. 2017): a unidirectional LSTM whose
output for step t is emitted ``delay`` steps later, so it has heard ``delay``
steps of future audio before committing to the mouth shape at t (20 steps =
200 ms at 100 Hz by default). We implement the delay by feeding ``delay``
padding steps after the sequence and dropping the first ``delay`` outputs, so
the returned (B, T, k) is aligned with the input: output t depends on inputs
0..t+delay and on nothing later.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DelayedLSTM(nn.Module):
    """Features (B, T, d) -> coefficients (B, T, k) with ``delay`` steps of look-ahead."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 128,
        layers: int = 1,
        delay: int = 20,
        dropout: float = 0.0,
    ):
        super().__init__()
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.delay = int(delay)
        self.lstm = nn.LSTM(
            in_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden, out_features)

    @property
    def future_context(self) -> int:
        return self.delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # zero padding = the mean feature after normalization, a neutral "no more audio"
        h, _ = self.lstm(F.pad(x, (0, 0, 0, self.delay)))
        return self.head(h[:, self.delay :])


class BiLSTM(nn.Module):
    """Features (B, T, d) -> coefficients (B, T, k); sees the whole sequence both ways."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 128,
        layers: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.lstm = nn.LSTM(
            in_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(2 * hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x)
        return self.head(h)
