"""Image-quality metrics on face crops: PSNR and SSIM in pure torch.

Both take (B, C, H, W) images in [0, 1] (data range 1) and return (B,) per-image values,
so the caller can average per frame over a held-out block.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def psnr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(1 / MSE), per image. (B,)"""
    mse = ((pred.float() - target.float()) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / (mse + eps))


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_map(
    pred: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5, same: bool = False
) -> torch.Tensor:
    """Local SSIM (Wang et al. 2004) averaged over channels: (B, 1, H', W').

    Gaussian window ``window`` px, ``sigma`` px, K1 = 0.01, K2 = 0.03, data range 1. ``same=False``:
    valid region only (H' = H - window + 1); ``same=True``: reflect-padded to (H, W), so the map
    lines up with a per-pixel weight (the training loss).
    """
    pred, target = pred.float(), target.float()
    channels = pred.shape[1]
    kernel = _gaussian_window(window, sigma, channels, pred.device, pred.dtype)
    c1, c2 = 0.01**2, 0.03**2
    pad = window // 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        if same:
            x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        return F.conv2d(x, kernel, groups=channels)

    mu_x, mu_y = blur(pred), blur(target)
    sxx = blur(pred * pred) - mu_x**2
    syy = blur(target * target) - mu_y**2
    sxy = blur(pred * target) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return (num / den).mean(1, keepdim=True)


def ssim(
    pred: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), per image, averaged over channels. (B,)

    Gaussian window 11 px, sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, valid
    region only (no padding), as in scikit-image's ``gaussian_weights=True`` setting.
    """
    return ssim_map(pred, target, window, sigma).flatten(1).mean(1)
