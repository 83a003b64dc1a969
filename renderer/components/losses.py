"""Losses of the renderer: GAN loss with label buffers, mouth-weighted L1 and SSIM, feature matching.

None of them needs pretrained weights (no VGG perceptual loss): nothing is
downloaded at run time.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from renderer.components.metrics import ssim_map

Features = list[list[torch.Tensor]]  # per scale, per layer; the last layer is the prediction


class GANLoss(nn.Module):
    """Adversarial loss on (multi-scale) PatchGAN predictions.

    ``mode``: ``lsgan`` (least squares, the default: stable gradients when the
    discriminator is confident), ``vanilla`` (binary cross-entropy on logits),
    or ``hinge``. The real/fake targets live in buffers so they follow the
    module's device and dtype.
    """

    def __init__(self, mode: str = "lsgan", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if mode not in ("lsgan", "vanilla", "hinge"):
            raise ValueError(f"unknown GAN mode {mode!r} (lsgan, vanilla, hinge)")
        self.mode = mode
        self.register_buffer("real_label", torch.tensor(real_label))
        self.register_buffer("fake_label", torch.tensor(fake_label))

    def target_tensor(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        """A tensor shaped like ``prediction`` filled with the real or fake label."""
        label = self.real_label if target_is_real else self.fake_label
        return label.to(prediction.dtype).expand_as(prediction)

    def _single(
        self, pred: torch.Tensor, target_is_real: bool, for_discriminator: bool
    ) -> torch.Tensor:
        if self.mode == "lsgan":
            return F.mse_loss(pred, self.target_tensor(pred, target_is_real))
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(
                pred, self.target_tensor(pred, target_is_real)
            )
        # hinge: the discriminator gets margins, the generator just pushes its score up.
        if not for_discriminator:
            return -pred.mean()
        return F.relu(1 - pred).mean() if target_is_real else F.relu(1 + pred).mean()

    def forward(
        self,
        prediction: Features | torch.Tensor,
        target_is_real: bool,
        for_discriminator: bool = True,
    ) -> torch.Tensor:
        """Mean loss over scales; ``prediction`` is a tensor or a discriminator's feature lists."""
        if isinstance(prediction, torch.Tensor):
            return self._single(prediction, target_is_real, for_discriminator)
        losses = [
            self._single(feats[-1], target_is_real, for_discriminator) for feats in prediction
        ]
        return torch.stack(losses).mean()


def weighted_l1(
    fake: torch.Tensor, real: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """L1 between (B, C, H, W) images with a per-pixel weight (B, 1, H, W), normalized by its mean.

    With ``weight = 1 + w * mouth_mask`` the lips, under 4 % of the pixels, get
    a share of the loss that their perceptual importance deserves, while the
    loss stays on the scale of a plain L1.
    """
    diff = (fake - real).abs()
    if weight is None:
        return diff.mean()
    weight = weight.to(diff.dtype)
    return (diff * weight).mean() / weight.mean().clamp_min(1e-8)


def weighted_ssim_loss(
    fake: torch.Tensor, real: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """1 - SSIM between (B, C, H, W) images in [-1, 1], averaged with a per-pixel weight (B, 1, H, W).

    L1 alone is blind to structure: a mouth blurred by σ 3 px loses little L1 but its SSIM
    falls (issue 9). Mixing SSIM into the pixel loss follows Zhao et al. 2017 ("Loss functions
    for image restoration with neural networks"). Like L1 it still rewards a smooth guess where
    texture cannot be predicted: on lieu and macron it raised mouth SSIM and lowered sharpness
    (docs/renderer.md). The weight is the L1's, so the lips count as much here as there.
    """
    local = ssim_map((fake + 1) / 2, (real + 1) / 2, same=True)
    if weight is None:
        return 1 - local.mean()
    weight = weight.to(local.dtype)
    return 1 - (local * weight).sum() / weight.sum().clamp_min(1e-8)


def weighted_gradient_loss(
    fake: torch.Tensor, real: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Gradient difference loss: L1 between the magnitudes of horizontal and vertical pixel differences.

    fake/real (B, C, H, W), weight (B, 1, H, W) as for :func:`weighted_l1`. A blurred mouth loses
    little L1 but much of its edge energy; this term measures the lost edge strength directly
    (a uniform brightness shift costs nothing). Mathieu et al. 2016 ("Deep multi-scale video
    prediction beyond mean square error") add it to sharpen predicted frames; α = 1 here.
    """
    terms = []
    for dim in (-1, -2):  # x, then y
        n = fake.shape[dim] - 1
        g_fake = fake.diff(dim=dim).abs()
        g_real = real.diff(dim=dim).abs()
        w = None if weight is None else weight.narrow(dim, 0, n)
        terms.append(weighted_l1(g_fake, g_real, w))
    return torch.stack(terms).mean()


def feature_matching_loss(fake: Features, real: Features) -> torch.Tensor:
    """L1 between the discriminator's intermediate features on fake and real pairs.

    Averaged over scales and layers (the prediction layer excluded); the real
    features are targets, so they are detached.
    """
    terms = []
    for fake_scale, real_scale in zip(fake, real, strict=True):
        for f, r in zip(fake_scale[:-1], real_scale[:-1], strict=True):
            terms.append(F.l1_loss(f, r.detach()))
    return torch.stack(terms).mean()
