"""The viseme baseline and the viseme-residual TCN, pure torch.

``VisemeBlend`` is this speaker's own mean speech shape per viseme class,
blended over time: a linear map from the one-hot viseme block to coefficients
(one learned shape per class, in the normalized target space) followed by a
coarticulation kernel, a per-coefficient 1-D convolution over +-``context``
steps that starts as a Gaussian of ``sigma`` steps and is learned from the
speaker's footage. It reads only the viseme block (the last ``n_visemes``
input channels), so it works the same for any voice, and because each class
maps to one full shape it cannot mumble: a P/B/M always closes the lips.

``VisemeResidualTCN`` adds a TCN on all input channels (acoustic + visemes) on
top of the blend: the TCN only has to learn what the visemes miss (this
speaker's loudness, emphasis, timing).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from audio2mouth.components.tcn import TCNGenerator


class VisemeBlend(nn.Module):
    """Features (B, T, d) -> coefficients (B, T, k) from the last ``n_visemes`` channels only."""

    def __init__(self, in_features: int, out_features: int, n_visemes: int = 12, context: int = 15,
                 sigma: float = 4.0):
        super().__init__()
        if in_features < n_visemes:
            raise ValueError(f"the visemes model needs viseme features ({n_visemes} channels), got {in_features}")
        self.n_visemes, self.context = int(n_visemes), int(context)
        self.shapes = nn.Linear(n_visemes, out_features)
        taps = torch.arange(-context, context + 1, dtype=torch.float32)
        gauss = torch.exp(-0.5 * (taps / sigma) ** 2)
        self.kernel = nn.Parameter((gauss / gauss.sum()).repeat(out_features, 1, 1))  # (k, 1, 2C+1)

    @property
    def future_context(self) -> int:
        return self.context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shapes = self.shapes(x[..., -self.n_visemes :]).transpose(1, 2)  # (B, k, T)
        padded = F.pad(shapes, (self.context, self.context), mode="replicate")
        return F.conv1d(padded, self.kernel, groups=shapes.shape[1]).transpose(1, 2)


class VisemeResidualTCN(nn.Module):
    """VisemeBlend + a TCN residual on all channels; (B, T, d) -> (B, T, k)."""

    def __init__(self, in_features: int, out_features: int, n_visemes: int = 12, context: int = 15,
                 sigma: float = 4.0, channels: int = 32, kernel_size: int = 3,
                 dilations: Sequence[int] = (1, 2, 4, 8, 16), causal: bool = False, lookahead: int = 0,
                 dropout: float = 0.3):
        super().__init__()
        self.blend = VisemeBlend(in_features, out_features, n_visemes, context, sigma)
        self.residual = TCNGenerator(in_features, out_features, channels, kernel_size, dilations, causal, lookahead,
                                     dropout)

    @property
    def future_context(self) -> int:
        return max(self.blend.future_context, self.residual.future_context)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blend(x) + self.residual(x)
