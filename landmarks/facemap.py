"""The one face-map function used at training and at inference time.

A face map is an (S, S, 3) uint8 image at crop size, one meaning per channel:

- channel 0: landmark polylines (jaw, brows, nose, eyes, outer and inner lips),
- channel 1: Canny edges of the reference crop, with the lower face masked out
  (the mouth there must come from the landmarks, not from the reference),
- channel 2: the inner mouth, filled.

If training and inference drew maps differently, the renderer would see inputs
it was never trained on, so every caller goes through :func:`draw_face_map`
with the parameters recorded in the speaker cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from landmarks import indices as ix


@dataclass(frozen=True)
class FaceMapParams:
    """Drawing parameters; lengths are in crop pixels at ``size``."""

    size: int = 128
    line_width: int = 1
    canny_low: int = 50
    canny_high: int = 120
    canny_blur: int = 3  # Gaussian blur kernel before Canny (odd, 0 = none)
    mask_dilate: float = 0.04  # lower-face mask grown by this fraction of the crop size
    fill_inner_mouth: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FaceMapParams:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


_OPEN_CURVES = [ix.JAW, ix.RIGHT_BROW, ix.LEFT_BROW, ix.NOSE_BRIDGE, ix.NOSE_BOTTOM]
_CLOSED_CURVES = [ix.RIGHT_EYE, ix.LEFT_EYE, ix.OUTER_LIPS, ix.INNER_LIPS]
# Lower jaw from cheek to cheek, then back along the base of the nose.
_LOWER_FACE_OUTLINE = np.concatenate([np.arange(2, 15), [35, 34, 33, 32, 31]])


def canny_edges(crop_rgb: np.ndarray, params: FaceMapParams) -> np.ndarray:
    """Canny edges of an (S, S, 3) uint8 RGB crop -> (S, S) bool."""
    gray = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    if params.canny_blur > 1:
        gray = cv2.GaussianBlur(gray, (params.canny_blur, params.canny_blur), 0)
    return cv2.Canny(gray, params.canny_low, params.canny_high) > 0


def lower_face_mask(landmarks_crop: np.ndarray, params: FaceMapParams) -> np.ndarray:
    """(S, S) uint8 {0, 1} mask of the region speech moves: below the nose, inside the jaw."""
    mask = np.zeros((params.size, params.size), np.uint8)
    outline = np.rint(landmarks_crop[_LOWER_FACE_OUTLINE]).astype(np.int32)
    cv2.fillPoly(mask, [outline], 1)
    grow = int(round(params.mask_dilate * params.size))
    if grow > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        mask = cv2.dilate(mask, kernel)
    return mask


def draw_face_map(landmarks_crop: np.ndarray, edges: np.ndarray, params: FaceMapParams) -> np.ndarray:
    """Draw the face map from (68, 2) landmarks in crop pixels and (S, S) bool edges.

    Deterministic: the same inputs give the same bytes. Returns (S, S, 3) uint8.
    """
    size = params.size
    if edges.shape != (size, size):
        raise ValueError(f"edges are {edges.shape}, face map size is {size}")
    # Sub-pixel precision (4 fractional bits) keeps small mouth motions visible at 128 px.
    shift = 4
    pts = np.rint(np.asarray(landmarks_crop, np.float64) * (1 << shift)).astype(np.int32)
    lines = np.zeros((size, size), np.uint8)
    for idx in _OPEN_CURVES:
        cv2.polylines(lines, [pts[idx]], False, 255, params.line_width, cv2.LINE_AA, shift)
    for idx in _CLOSED_CURVES:
        cv2.polylines(lines, [pts[idx]], True, 255, params.line_width, cv2.LINE_AA, shift)

    masked_edges = edges & (lower_face_mask(landmarks_crop, params) == 0)

    mouth = np.zeros((size, size), np.uint8)
    if params.fill_inner_mouth:
        cv2.fillPoly(mouth, [pts[ix.INNER_LIPS]], 255, cv2.LINE_AA, shift)
    return np.stack([lines, masked_edges.astype(np.uint8) * 255, mouth], axis=-1)
