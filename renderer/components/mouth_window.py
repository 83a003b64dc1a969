"""Windows around the lips, cut from a batch, for the local mouth discriminator.

A global PatchGAN averages its verdict over the whole box, where the lips are a
small share of the patches; a second discriminator that only ever sees a window
centred on the lips spends all its capacity on teeth, lip edges and the inner
mouth (the local discriminators of face inpainting and of pix2pixHD's face
enhancers).
"""

from __future__ import annotations

import torch


def lip_centres(mouth_mask: torch.Tensor) -> torch.Tensor:
    """(B, 2) long (row, col) centroid of each (B, 1, S, S) {0, 1} lip mask (image centre if empty)."""
    b, _, h, w = mouth_mask.shape
    m = mouth_mask.float().flatten(1)
    total = m.sum(1).clamp_min(1e-6)
    rows = torch.arange(h, device=m.device, dtype=m.dtype).repeat_interleave(w)
    cols = torch.arange(w, device=m.device, dtype=m.dtype).repeat(h)
    centre = torch.stack([(m * rows).sum(1) / total, (m * cols).sum(1) / total], 1)
    empty = m.sum(1) == 0
    centre[empty] = torch.tensor([h / 2, w / 2], device=m.device, dtype=m.dtype)
    return centre.round().long()


def cut_windows(images: torch.Tensor, centres: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, size, size) windows of (B, C, S, S) ``images`` around (B, 2) centres, kept inside."""
    _, _, h, w = images.shape
    top = (centres[:, 0] - size // 2).clamp(0, h - size)
    left = (centres[:, 1] - size // 2).clamp(0, w - size)
    return torch.stack([img[:, t : t + size, s : s + size] for img, t, s in zip(images, top.tolist(),
                                                                               left.tolist(), strict=True)])
