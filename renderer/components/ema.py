"""Exponential moving average of a network's weights (the generator that renders).

GAN generators wander from step to step: the discriminator keeps pushing them.
Averaging the weights over the last few hundred steps (as ProGAN and StyleGAN
render with) removes that noise without a learning-rate schedule, which a
time-limited CPU run cannot plan for. Buffers (BatchNorm's running statistics)
are averaged alike; integer buffers are copied.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage(nn.Module):
    """A frozen copy of ``model`` whose weights follow it: w <- d w + (1 - d) w_model after each step.

    ``decay`` d is warmed up as min(decay, (1 + n) / (10 + n)) after n updates, so the
    early average is not dominated by the random initial weights.
    """

    def __init__(self, model: nn.Module, decay: float = 0.995):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight-average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        n = int(self.updates)
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average one step toward ``model``'s current weights and buffers."""
        d = self.current_decay()
        for avg, live in zip(self.module.parameters(), model.parameters(), strict=True):
            avg.lerp_(live, 1.0 - d)
        for avg, live in zip(self.module.buffers(), model.buffers(), strict=True):
            if avg.is_floating_point():
                avg.lerp_(live, 1.0 - d)
            else:
                avg.copy_(live)
        self.updates += 1

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def train(self, mode: bool = True) -> WeightAverage:
        super().train(mode)
        self.module.eval()  # always renders with running statistics, never updates them
        return self
