"""Measures that see a soft or flickering mouth, at the resolution the viewer sees.

Whole-crop PSNR hides the mouth: blurring only the mouth box of a real frame
(Gaussian, sigma 3 px) still scores 36 dB over the face. So every figure here is
taken in the *mouth box* of the full-resolution output frame: a square centred on
the truth's lips (points 48-67), ``scale`` x the lips' width on a side. The same
box, from the truth's landmarks, is cut from output and truth.

- ``mouth_psnr_db`` / ``mouth_ssim``: PSNR (peak 255) and SSIM (7x7 windows, per
  channel) of output vs truth in the box, averaged over frames;
- ``sharpness_ratio``: mean variance of the Laplacian of the box's grey levels,
  output / truth (1 = as sharp as the footage, 0.2 = a blurred mouth);
- ``flicker_ratio``: mean absolute frame-to-frame change in the box (grey levels,
  the current frame's box cut from both frames), output / truth (1 = moves as much
  as the footage; above it, the rendering adds flicker);
- close-ups: a strip of mouth boxes, truth above output, for the report.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from landmarks import indices as ix

STRIP_HEIGHT = 96  # px of one close-up in the strip


def box_slices(box: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """(rows, cols) of a square box (cx, cy, side) in frame px, clipped to a frame of ``shape``."""
    cx, cy, side = (float(v) for v in box)
    y0, x0 = max(0, int(cy - side / 2)), max(0, int(cx - side / 2))
    return slice(y0, min(shape[0], int(cy + side / 2))), slice(x0, min(shape[1], int(cx + side / 2)))


def mouth_box(landmarks: np.ndarray, shape: tuple[int, ...], scale: float = 1.5) -> tuple[slice, slice] | None:
    """(rows, cols) slices of the mouth box of (68, 2) frame-px landmarks in a frame of ``shape``."""
    lips = np.asarray(landmarks)[ix.LIPS]
    if not np.isfinite(lips).all():
        return None
    centre = (lips.min(0) + lips.max(0)) / 2
    half = scale * float(np.ptp(lips[:, 0])) / 2
    x0, y0 = int(round(centre[0] - half)), int(round(centre[1] - half))
    x1, y1 = int(round(centre[0] + half)), int(round(centre[1] + half))
    h, w = shape[:2]
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 - x0 < 8:
        return None  # at the frame's edge or too small to judge
    return slice(y0, y1), slice(x0, x1)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of an (H, W, 3) uint8 image's grey levels."""
    return float(cv2.Laplacian(_grey(image), cv2.CV_32F).var())


class MouthMeter:
    """Accumulates the mouth-box measures over consecutive frames of one clip."""

    def __init__(self, n_closeups: int = 8, closeup_every: int = 1):
        self.psnr, self.ssim, self.sharp_out, self.sharp_true = [], [], [], []
        self.flicker_out, self.flicker_true = [], []
        self.closeups: list[tuple[np.ndarray, np.ndarray]] = []
        self.n_closeups, self.closeup_every = n_closeups, max(1, closeup_every)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._seen = 0

    def add(self, output: np.ndarray, truth: np.ndarray, truth_landmarks: np.ndarray) -> None:
        """One frame: (H, W, 3) uint8 output and truth, (68, 2) truth landmarks in frame px."""
        box = mouth_box(truth_landmarks, truth.shape)
        previous, self._previous = self._previous, (output, truth)
        self._seen += 1
        if box is None:
            return
        a, b = output[box], truth[box]
        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
        self.psnr.append(10 * np.log10(255.0**2 / max(mse, 1e-10)))
        self.ssim.append(float(structural_similarity(a, b, channel_axis=2, data_range=255)))
        self.sharp_out.append(sharpness(a))
        self.sharp_true.append(sharpness(b))
        if previous is not None:
            self.flicker_out.append(float(np.abs(_grey(a) - _grey(previous[0][box])).mean()))
            self.flicker_true.append(float(np.abs(_grey(b) - _grey(previous[1][box])).mean()))
        if len(self.closeups) < self.n_closeups and (self._seen - 1) % self.closeup_every == 0:
            self.closeups.append((b.copy(), a.copy()))

    def summary(self) -> dict[str, float | int | None]:
        """The measures (see the module docstring); None where no frame could be judged."""
        def mean(values: list[float]) -> float | None:
            return round(float(np.mean(values)), 4) if values else None

        def ratio(num: list[float], den: list[float]) -> float | None:
            return round(float(np.mean(num) / max(np.mean(den), 1e-9)), 4) if num else None

        return {
            "mouth_frames": len(self.psnr),
            "mouth_psnr_db": mean(self.psnr),
            "mouth_ssim": mean(self.ssim),
            "sharpness_ratio": ratio(self.sharp_out, self.sharp_true),
            "flicker_ratio": ratio(self.flicker_out, self.flicker_true),
        }

    def strip(self) -> np.ndarray | None:
        """(2 x 96, N x 96, 3) uint8 RGB: truth close-ups on top, output below; None if empty."""
        if not self.closeups:
            return None
        def fit(image: np.ndarray) -> np.ndarray:
            # shrink smoothly, enlarge by pixel replication: the strip shows the output's real pixels
            interp = cv2.INTER_AREA if image.shape[0] > STRIP_HEIGHT else cv2.INTER_NEAREST
            return cv2.resize(image, (STRIP_HEIGHT, STRIP_HEIGHT), interpolation=interp)

        top = [fit(t) for t, _ in self.closeups]
        bottom = [fit(o) for _, o in self.closeups]
        return np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
