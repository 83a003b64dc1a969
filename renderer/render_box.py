"""Where the renderer paints: a square inside the face crop, at its own resolution.

The face crop (``landmarks.crop``, 1.7 x the face's landmark extent) is what
prepare stores at ``crop_size``. Only the lower face is ever pasted back, so
painting the whole crop spends three quarters of the pixels on what is kept
from the template; on a head-and-shoulders shot the mouth ends up ~26 px wide
and blurred once pasted back at full resolution. A :class:`RenderBox` is a
square fixed relative to the face crop box (so it moves exactly as steadily),
fitted to hold the lower face of every training frame, and rendered at
``size`` px straight from the full-resolution frame.

Coordinates: ``(cx, cy, side)`` in face-crop pixels of a crop of ``face_size``;
frame boxes are ``(cx, cy, side)`` in frame pixels, as the cache's crop boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from landmarks.crop import crop_to_frame
from landmarks.errors import LipsyncError
from landmarks.facemap import FaceMapParams

# Mouth, chin and the base of the nose (jaw 5..11, nose 31..35): what speech moves. The cheeks
# (jaw 2..4, 12..14) are left out: they barely move, and leaving them out gives the lips ~1.4x the
# pixels; the lower-face mask there is cut at the box with a soft edge (EDGE_FEATHER).
_LOWER_FACE_POINTS = np.concatenate([np.arange(5, 12), np.arange(31, 36)])
EDGE_FEATHER = 0.08  # fade of the paste weight at a tight box's border, as a fraction of its side
SIZE_STEP = 32  # render sizes are multiples of this (the U-Net halves them 5 times or more)
MAX_AUTO_SIZE = 512


@dataclass(frozen=True)
class RenderBox:
    """A square (cx, cy, side) in face-crop px of a ``face_size`` crop, rendered at ``size`` px."""

    cx: float
    cy: float
    side: float
    face_size: int
    size: int

    @classmethod
    def whole_crop(cls, face_size: int) -> RenderBox:
        """The face crop itself: the renderer paints the crop as prepare stored it."""
        centre = (face_size - 1) / 2
        return cls(centre, centre, float(face_size), face_size, face_size)

    @classmethod
    def fit_lower_face(
        cls, landmarks_crop: np.ndarray, face_size: int, size: int, margin: float = 0.10
    ) -> RenderBox:
        """The smallest square holding the lower face of (nearly) every frame, plus ``margin``.

        ``landmarks_crop``: (T, 68, 2) in face-crop px. The 1st-99th percentiles of
        the outline points bound it, so one mis-detected frame does not inflate it;
        ``margin`` x side is added on each side for the mask's dilation and feather.
        """
        points = np.asarray(landmarks_crop, np.float64)[:, _LOWER_FACE_POINTS].reshape(-1, 2)
        lo, hi = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
        centre = (lo + hi) / 2
        side = float((hi - lo).max()) * (1 + 2 * margin)
        return cls(float(centre[0]), float(centre[1]), min(side, 2.0 * face_size), face_size, size)

    def with_size(self, size: int) -> RenderBox:
        """The same square, rendered at ``size`` px."""
        return replace(self, size=int(size))

    @property
    def is_whole_crop(self) -> bool:
        return self == RenderBox.whole_crop(self.face_size)

    @property
    def edge_px(self) -> float:
        """Border (px at ``size``) over which the paste weight fades to 0."""
        return 2.0 if self.is_whole_crop else EDGE_FEATHER * self.size

    def frame_boxes(self, crop_boxes: np.ndarray) -> np.ndarray:
        """(T, 3) render boxes in frame px from (T, 3) face crop boxes in frame px."""
        crop_boxes = np.asarray(crop_boxes, np.float64).reshape(-1, 3)
        centre = np.array([[self.cx, self.cy]])
        centres = np.stack([crop_to_frame(centre, b, self.face_size)[0] for b in crop_boxes])
        sides = crop_boxes[:, 2] * self.side / self.face_size
        return np.concatenate([centres, sides[:, None]], 1).astype(np.float32)

    def face_map_params(self, face_params: FaceMapParams) -> FaceMapParams:
        """Drawing parameters at the render box: same lines, mask growth in the same face units."""
        grow = face_params.mask_dilate * self.face_size / self.side
        return replace(face_params, size=self.size, mask_dilate=grow)

    def to_dict(self) -> dict:
        return {"cx": self.cx, "cy": self.cy, "side": self.side, "face_size": self.face_size,
                "size": self.size}

    @classmethod
    def from_dict(cls, data: dict) -> RenderBox:
        return cls(float(data["cx"]), float(data["cy"]), float(data["side"]), int(data["face_size"]),
                   int(data["size"]))


def choose_render_size(setting: int | str, frame_sides: np.ndarray, crop_size: int) -> int:
    """Render size in px from a ``render_size`` setting: an int, or ``auto``.

    ``auto`` matches the footage: the median side of the render box in frame px
    (``frame_sides``, (T,)), rounded to a multiple of 32, at least ``crop_size``
    and at most 512. Rendering below the footage's resolution caps the mouth's
    sharpness once pasted back: on the held-out macron mouths (render box ~193 px
    in the frame) cutting at 128 px and pasting back, with no network in between,
    keeps 0.51 of the footage's Laplacian variance, at 192 px 0.89.
    """
    if isinstance(setting, str):
        if setting != "auto":
            raise LipsyncError(f"render_size must be a number of px or auto, got {setting!r}")
        median = float(np.median(np.asarray(frame_sides, np.float64)))
        return int(min(MAX_AUTO_SIZE, max(crop_size, SIZE_STEP * round(median / SIZE_STEP))))
    size = int(setting)
    if size < SIZE_STEP or size % SIZE_STEP:
        raise LipsyncError(f"render_size must be a multiple of {SIZE_STEP} px, got {size}")
    return size
