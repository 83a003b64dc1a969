"""Feathered paste-back of rendered face crops into full-resolution frames.

Only the lower face is replaced: the blend weight is the lower-face mask
(crop pixels) blurred into a soft ramp, so there is no hard seam. All work
happens in the region of interest around the crop box, never on the whole
frame, which keeps a 720p or 1080p paste at a millisecond or two. Pixels
where the warped weight is exactly 0 (everything outside the feathered mask)
are bit-for-bit the input frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from landmarks.alignment import invert_transform
from landmarks.crop import IMAGE_WARP, crop_matrix


def feather_mask(mask: np.ndarray, feather: float = 0.04, edge_px: float = 2.0) -> np.ndarray:
    """Soft blend weight (S, S) float32 in [0, 1] from a binary (S, S) mask.

    The mask is blurred with a Gaussian of sigma ``feather`` x S pixels (the
    ramp straddles the mask's edge), then faded to 0 over the outermost
    ``edge_px`` px of the crop so the square edge of the crop never shows.
    """
    size = mask.shape[0]
    alpha = mask.astype(np.float32)
    sigma = feather * size
    if sigma > 0:
        alpha = cv2.GaussianBlur(
            alpha, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT
        )
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / edge_px, 0, 1).astype(
        np.float32
    )
    alpha *= ramp[:, None] * ramp[None, :]
    alpha[alpha < 1e-3] = 0.0  # a true zero outside, so those pixels stay untouched
    return alpha


def _roi(box: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    cx, cy, side = (float(v) for v in box)
    h, w = shape[:2]
    x0, y0 = max(0, int(np.floor(cx - side / 2)) - 1), max(0, int(np.floor(cy - side / 2)) - 1)
    x1, y1 = min(w, int(np.ceil(cx + side / 2)) + 2), min(h, int(np.ceil(cy + side / 2)) + 2)
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def paste_back(
    frame: np.ndarray,
    crop: np.ndarray,
    box: np.ndarray,
    alpha: np.ndarray,
    colour_match: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Blend ``crop`` (S, S, 3) uint8 into ``frame`` (H, W, 3) uint8 inside crop box ``box``.

    ``box`` is (cx, cy, side) in frame pixels (the cache's crop box), ``alpha``
    the (S, S) feathered weight in crop pixels. With ``colour_match`` the crop is
    shifted by the mean colour difference to the frame measured on the feather
    ramp (the seam), so a small exposure or white-balance drift does not show as
    a patch. Writes into ``out`` (may be ``frame`` itself) or a copy; returns it.
    """
    out = frame.copy() if out is None else out
    roi = _roi(box, frame.shape)
    if roi is None:
        return out
    x0, y0, x1, y1 = roi
    size = crop.shape[0]
    # crop pixels -> ROI pixels: the exact inverse of the crop's scale + translation.
    inverse = invert_transform(crop_matrix(box, size))
    inverse[:, 2] -= (x0, y0)
    dsize = (x1 - x0, y1 - y0)
    weight = cv2.warpAffine(
        alpha.astype(np.float32),
        inverse,
        dsize,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    warped = cv2.warpAffine(crop, inverse, dsize, flags=IMAGE_WARP, borderMode=cv2.BORDER_REPLICATE)
    region = frame[y0:y1, x0:x1]
    # blended = region + w * (warped + shift - region) in few passes over the ROI: speak pastes on
    # the thread that also encodes, while the network's threads want both cores.
    delta = cv2.subtract(warped, region, dtype=cv2.CV_32F)  # (h, w, 3) float32, warped - region
    if colour_match:
        seam = weight * (1 - weight)  # peaks halfway up the ramp, 0 inside and outside
        total = float(seam.sum())
        if total > 1e-6:
            # shift by the mean colour difference frame - crop on the seam (one matrix-vector product)
            delta -= (seam.reshape(1, -1) @ delta.reshape(-1, 3)) / total
    delta *= weight[..., None]
    out[y0:y1, x0:x1] = cv2.add(region, delta, dtype=cv2.CV_8U)  # rounded and saturated to uint8
    return out
