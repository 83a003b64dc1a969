"""The adversarial TCN's discriminator and GAN loss, pure torch.

The discriminator judges *pairs*: the audio features and a coefficient sequence
(real, from the footage, or generated). Conditioning on the audio makes it
punish lip motion that is plausible in general but wrong for this sound. It
emits one logit per time step (a temporal PatchGAN), so its judgement is local
and its receptive field, not the window length, sets the scale it looks at.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from audio2mouth.components.tcn import TCN


class TCNDiscriminator(nn.Module):
    """(features (B, T, d), coeffs (B, T, k)) -> logits (B, T)."""

    def __init__(
        self,
        in_features: int,
        n_coeffs: int,
        channels: int = 32,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.tcn = TCN(in_features + n_coeffs, channels, kernel_size, dilations, dropout=dropout)
        self.head = nn.Conv1d(channels, 1, 1)

    @property
    def receptive_field(self) -> int:
        return self.tcn.receptive_field

    def forward(self, features: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        pair = torch.cat([features, coeffs], dim=-1).transpose(1, 2)
        return self.head(self.tcn(pair)).squeeze(1)


class GANLoss(nn.Module):
    """GAN objective with label buffers (as pix2pix): ``lsgan`` (MSE) or ``vanilla`` (BCE).

    ``mask`` (B, T) bool restricts the loss to steps with valid targets.
    """

    def __init__(self, mode: str = "lsgan", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if mode not in ("lsgan", "vanilla"):
            raise ValueError(f"unknown GAN mode {mode!r}")
        self.mode = mode
        self.register_buffer("real_label", torch.tensor(real_label))
        self.register_buffer("fake_label", torch.tensor(fake_label))

    def forward(
        self, logits: torch.Tensor, target_is_real: bool, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        label = (self.real_label if target_is_real else self.fake_label).expand_as(logits)
        if self.mode == "lsgan":
            per_step = (logits - label) ** 2
        else:
            per_step = nn.functional.binary_cross_entropy_with_logits(
                logits, label, reduction="none"
            )
        if mask is None:
            return per_step.mean()
        weight = mask.to(per_step.dtype)
        return (per_step * weight).sum() / weight.sum().clamp_min(1.0)
