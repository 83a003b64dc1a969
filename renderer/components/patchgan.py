"""PatchGAN discriminator (pix2pix), optionally multi-scale (pix2pixHD).

The discriminator sees the conditioning input and an image concatenated along
channels, (B, C_cond + 3, S, S), and answers per patch: a 70x70 receptive field
at ``n_layers=3``. It returns every layer's features so the generator can be
trained with feature matching; the last entry of each list is the prediction map.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from renderer.components.unet import make_norm


class PatchDiscriminator(nn.Module):
    """(B, in_channels, H, W) -> list of features, last = (B, 1, H', W') patch logits."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))]
        width = ndf
        for i in range(1, n_layers + 1):
            prev, width = width, ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(prev, width, 4, stride, 1, bias=norm in ("none", "instance")),
                    make_norm(norm, width),
                    nn.LeakyReLU(0.2, True),
                )
            )
        blocks.append(nn.Sequential(nn.Conv2d(width, 1, 4, 1, 1)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs on the input at 1, 1/2, 1/4 ... resolution.

    Returns one feature list per scale. Coarse scales judge the global face
    layout; the finest one judges texture (teeth, lip edges).
    """

    def __init__(
        self,
        in_channels: int,
        ndf: int = 64,
        n_layers: int = 3,
        num_scales: int = 1,
        norm: str = "batch",
    ):
        super().__init__()
        if num_scales < 1:
            raise ValueError("num_scales must be >= 1")
        self.scales = nn.ModuleList(
            PatchDiscriminator(in_channels, ndf, n_layers, norm) for _ in range(num_scales)
        )

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, disc in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(disc(x))
        return outputs
