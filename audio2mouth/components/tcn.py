"""Temporal convolutional network (dilated residual 1-D convolutions), pure torch.

Receptive field: each residual block holds two convolutions with kernel size
``K`` and dilation ``d``, so a stack with dilations ``d_1..d_n`` sees
``R = 1 + 2 (K - 1) sum(d_i)`` input steps per output step. With the defaults
(K = 3, dilations 1, 2, 4, 8, 16) R = 125 steps = 1.25 s at 100 Hz.

- non-causal (default): the window is centred, (R - 1) / 2 steps each side.
- causal with ``lookahead`` L: output t sees inputs t - (R - 1) - ... up to
  t + L only, i.e. R - 1 past steps and L future steps (L = 0: strictly causal).
  Low-latency use then needs only L steps (L * 10 ms) of audio ahead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class TemporalBlock(nn.Module):
    """Two dilated convolutions with a residual connection; (B, C_in, T) -> (B, C_out, T)."""

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, dilation: int, causal: bool, dropout: float
    ):
        super().__init__()
        span = (kernel_size - 1) * dilation
        # causal: all padding on the left so no future step enters; else split evenly
        self.pad = (span, 0) if causal else (span // 2, span - span // 2)
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, dilation=dilation)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.act(self.conv1(F.pad(x, self.pad))))
        h = self.drop(self.act(self.conv2(F.pad(h, self.pad))))
        return self.skip(x) + h


class TCN(nn.Module):
    """A stack of temporal blocks on channel-first sequences, (B, C_in, T) -> (B, C, T)."""

    def __init__(
        self,
        in_channels: int,
        channels: int = 64,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8, 16),
        causal: bool = False,
        lookahead: int = 0,
        dropout: float = 0.1,
    ):
        super().__init__()
        if kernel_size % 2 == 0 and not causal:
            raise ValueError("a non-causal TCN needs an odd kernel size to stay centred")
        if lookahead < 0 or (lookahead and not causal):
            raise ValueError("lookahead must be >= 0 and only applies to causal TCNs")
        self.kernel_size = int(kernel_size)
        self.dilations = [int(d) for d in dilations]
        self.causal = bool(causal)
        self.lookahead = int(lookahead)
        blocks, c = [], in_channels
        for d in self.dilations:
            blocks.append(TemporalBlock(c, channels, kernel_size, d, causal, dropout))
            c = channels
        self.blocks = nn.Sequential(*blocks)

    @property
    def receptive_field(self) -> int:
        """Number of input steps that one output step depends on (excluding look-ahead)."""
        return 1 + 2 * (self.kernel_size - 1) * sum(self.dilations)

    @property
    def future_context(self) -> int:
        """Input steps after t that output t may depend on."""
        return self.lookahead if self.causal else (self.receptive_field - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lookahead:
            # shift: output t is computed from the causal window ending at t + L
            x = F.pad(x, (0, self.lookahead))
            return self.blocks(x)[..., self.lookahead :]
        return self.blocks(x)


class TCNGenerator(nn.Module):
    """Audio features (B, T, d) -> lip PCA coefficients (B, T, k), one output per feature step."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        channels: int = 64,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8, 16),
        causal: bool = False,
        lookahead: int = 0,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.tcn = TCN(in_features, channels, kernel_size, dilations, causal, lookahead, dropout)
        self.head = nn.Conv1d(channels, out_features, 1)

    @property
    def receptive_field(self) -> int:
        return self.tcn.receptive_field

    @property
    def future_context(self) -> int:
        return self.tcn.future_context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.tcn(x.transpose(1, 2))).transpose(1, 2)
