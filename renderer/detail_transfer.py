"""The finest detail of the rendered box taken from the speaker's own warped mouth.

An L1-trained generator paints the mean of what a mouth could look like, so its
finest band (lip lines, teeth edges, skin grain: what a variance-of-Laplacian
sharpness measure sees) is weak, and part of what is there is the network's own
pattern. The reference bank's nearest crop, warped onto the target's landmarks
(:mod:`renderer.reference_warp`), has the footage's real texture in about the
right place. So, after the network, the output's band finer than a Gaussian of
``sigma`` px is replaced by ``gain`` x the warped crop's:

    out = rendered + gain * (HP(warped) - HP(rendered)),  HP(x) = x - G_sigma * x

``gain`` 1 swaps the band, above 1 also amplifies it (the warp's bicubic
resampling and the bank crop's own blur leave it a little weaker than the
footage's); 0 is the network's output untouched. The coarser bands (shape,
colour, lighting) stay the network's, so a warp that is a few pixels off moves
fine texture, not the mouth. In the spirit of Synthesizing Obama's teeth proxy,
whose high frequencies sharpen the synthesized teeth.
"""

from __future__ import annotations

import cv2
import numpy as np

from landmarks.errors import LipsyncError

SIGMA = 1.0  # px at the render box: the band it carries is the one a 3x3 Laplacian measures


def checked_gain(gain: float) -> float:
    """``gain`` as a float, refused when negative or not a number (0 turns the transfer off)."""
    try:
        value = float(gain)
    except (TypeError, ValueError):
        value = float("nan")
    if not value >= 0:  # NaN included
        raise LipsyncError(f"detail_transfer must be a number >= 0 (0 turns it off), got {gain!r}")
    return value


def checked_neighbours(k: int) -> int:
    """``k`` as an int, refused unless it is a whole number >= 1."""
    try:
        whole = not isinstance(k, bool) and float(k) == int(float(k))
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or int(float(k)) < 1:
        raise LipsyncError(f"detail_neighbours must be a whole number >= 1, got {k!r}")
    return int(float(k))


def transfer_detail(rendered: np.ndarray, warped: np.ndarray, gain: float, sigma: float = SIGMA) -> np.ndarray:
    """(B, S, S, 3) uint8 ``rendered`` with its finest band replaced by ``gain`` x that of
    ``warped`` (B, S, S, 3) uint8, the bank crops warped onto the same landmarks."""
    if rendered.shape != warped.shape or rendered.dtype != np.uint8 or warped.dtype != np.uint8:
        raise LipsyncError(f"detail transfer needs two uint8 batches of one shape, got "
                           f"{rendered.shape} {rendered.dtype} and {warped.shape} {warped.dtype}")
    if gain == 0:
        return rendered
    out = np.empty_like(rendered)
    for i, (image, source) in enumerate(zip(rendered, warped, strict=True)):
        difference = source.astype(np.float32) - image.astype(np.float32)
        band = difference - cv2.GaussianBlur(difference, (0, 0), sigma)  # HP(warped) - HP(rendered): HP is linear
        out[i] = np.clip(np.rint(image + gain * band), 0, 255).astype(np.uint8)
    return out
