"""pix2pix U-Net generator whose depth follows the crop size.

Images are (B, C, S, S) float in [-1, 1]. The network halves the resolution
log2(S / bottleneck) times, so a 128 px crop gets 7 levels down to 1x1 (as
pix2pix's unet_128) and a 512 px crop 9 levels: every size sees the whole face
at the bottleneck. Skip connections concatenate encoder and decoder features.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from renderer.components.conditioning import FACE_MAP_CHANNELS


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalization layer by name: batch | instance | group | none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (batch, instance, group, none)")


def unet_depth(crop_size: int, bottleneck: int = 1) -> int:
    """Number of stride-2 levels from ``crop_size`` down to ``bottleneck`` pixels."""
    depth = math.log2(crop_size / bottleneck)
    if crop_size <= 0 or depth != int(depth) or depth < 2:
        raise ValueError(
            f"crop size {crop_size} must be bottleneck ({bottleneck}) x a power of 2 >= 4"
        )
    return int(depth)


def odd_part(size: int) -> int:
    """``size`` divided by its largest power-of-2 factor: the smallest bottleneck it halves down to."""
    while size > 1 and size % 2 == 0:
        size //= 2
    return size


class UNetBlock(nn.Module):
    """One level: down-conv, the inner levels, up-conv; concatenates its input (skip)."""

    def __init__(
        self,
        outer: int,
        inner: int,
        sub: nn.Module | None,
        in_ch: int | None = None,
        outermost: bool = False,
        norm: str = "batch",
        dropout: float = 0.0,
        tanh: bool = True,
    ):
        super().__init__()
        self.outermost = outermost
        in_ch = outer if in_ch is None else in_ch
        innermost = sub is None
        down = nn.Conv2d(in_ch, inner, 4, stride=2, padding=1, bias=norm in ("none", "instance"))
        up_in = inner if innermost else inner * 2
        up = nn.ConvTranspose2d(
            up_in, outer, 4, stride=2, padding=1, bias=outermost or norm == "none"
        )
        if outermost:
            # No activation before the first conv; tanh maps the output to image range.
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh() if tanh else nn.ReLU(True)]
        elif innermost:
            # No norm at the 1x1 bottleneck: a per-sample norm there would zero everything.
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, make_norm(norm, outer)]
        else:
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                make_norm(norm, inner),
                sub,
                nn.ReLU(True),
                up,
                make_norm(norm, outer),
            ]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNetGenerator(nn.Module):
    """U-Net (B, in_channels, S, S) -> (B, out_channels, S, S) in [-1, 1].

    ``ngf`` channels at the first level, doubled per level up to ``max_channels``.
    ``dropout`` applies to the decoder of the innermost levels whose width is
    capped (pix2pix's noise source); 0 keeps inference deterministic.
    ``refine`` adds a 3x3 conv at full resolution over the decoder's output and
    the input itself: pix2pix's outermost level sees the input only through a
    stride-2 conv, so copying full-resolution detail (the unmasked reference,
    thin face-map lines) has to be learned; with the input at hand it is learned
    in a few hundred steps instead of several epochs. ``refine_map=False`` keeps the
    face map (the input's first 3 channels) out of that head, so its lines cannot be
    copied into the picture at full resolution; the decoder still sees them.
    ``residual`` (needs ``refine``): the head paints a correction on top of the input's
    last 3 channels (the reference bank's crop, warped onto the target's landmarks)
    instead of the picture itself. Lighting and colour between two frames of one
    speaker differ smoothly, so the correction can be smooth and the reference's
    texture (stubble, teeth, lip lines) survives, where a picture painted from
    scratch under an L1 loss comes out as the average of what it could be.
    """

    def __init__(
        self,
        in_channels: int,
        crop_size: int,
        out_channels: int = 3,
        ngf: int = 32,
        max_channels: int = 256,
        norm: str = "batch",
        dropout: float = 0.0,
        bottleneck: int = 1,
        refine: bool = True,
        refine_map: bool = True,
        residual: bool = False,
    ):
        super().__init__()
        if residual and not refine:
            raise ValueError("residual needs the full-resolution head (refine=true)")
        self.residual = residual
        self.crop_size = crop_size
        self.in_channels = in_channels
        depth = unet_depth(crop_size, bottleneck)
        widths = [min(ngf * 2**i, max_channels) for i in range(depth)]
        block: nn.Module | None = None
        # Build from the bottleneck outwards (recursive, as in pix2pix).
        for level in range(depth - 1, 0, -1):
            outer, inner = widths[level - 1], widths[level]
            drop = dropout if (block is not None and inner == max_channels) else 0.0
            block = UNetBlock(outer, inner, block, norm=norm, dropout=drop)
        decoded = max(8, ngf // 2) if refine else out_channels
        self.model = UNetBlock(
            decoded, widths[0], block, in_ch=in_channels, outermost=True, norm=norm, tanh=not refine
        )
        # Channels of the input the head sees: all of them, or all after the face map's 3.
        self.head_skip = 0 if refine_map else FACE_MAP_CHANNELS
        self.head = (
            nn.Sequential(
                nn.Conv2d(decoded + in_channels - self.head_skip, out_channels, 3, padding=1),
                nn.Identity() if residual else nn.Tanh(),
            )
            if refine
            else None
        )
        if residual:  # start as the reference itself: no correction until one is learned
            nn.init.zeros_(self.head[0].weight)
            nn.init.zeros_(self.head[0].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.crop_size or x.shape[-2] != self.crop_size:
            raise ValueError(
                f"input is {tuple(x.shape[-2:])}, generator expects {self.crop_size} px"
            )
        y = self.model(x)
        if self.head is None:
            return y
        out = self.head(torch.cat([y, x[:, self.head_skip :]], 1))
        if self.residual:  # the correction on the reference, kept in image range
            return (x[:, -out.shape[1] :] + out).clamp(-1.0, 1.0)
        return out
