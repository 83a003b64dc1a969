"""Warp a reference crop so its face lies on the target's landmarks.

The reference bank's crop has a lip shape near the target's, but it was cut at
its own render box: its mouth sits a few pixels off, turned a little, and its
chin and lips are where that frame had them. Unaligned, its stubble, teeth and
lip texture cannot be copied pixel for pixel, so the generator learns to paint
the average of what it could be (blur). Warping the crop onto the target's
landmarks, as Synthesizing Obama aligns its teeth proxy, puts that texture where
the target needs it.

The warp is piecewise affine: the displacement (target -> reference) of the 68
landmarks, after the least-squares similarity of their stable points (the head's
own motion), is interpolated linearly over their Delaunay triangulation, with the
box's border pinned to the similarity alone. The similarity is applied at every
pixel; the residual is interpolated on a grid every ``GRID`` px and upsampled:
2.5-3.5 ms a warp at 128-192 px on the 2-core CPU.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy.spatial import Delaunay

from landmarks.alignment import apply_transform, estimate_similarity
from landmarks.indices import STABLE

GRID = 4  # px between the points where the displacement is interpolated exactly


def _border_points(size: int, n: int = 5) -> np.ndarray:
    """(4(n-1), 2) points along the border of a ``size`` box, corners included."""
    ticks = np.linspace(0.0, size - 1.0, n)
    top = np.stack([ticks, np.zeros(n)], 1)
    bottom = np.stack([ticks, np.full(n, size - 1.0)], 1)
    left = np.stack([np.zeros(n - 2), ticks[1:-1]], 1)
    right = np.stack([np.full(n - 2, size - 1.0), ticks[1:-1]], 1)
    return np.concatenate([top, bottom, left, right])


def warp_field(reference_landmarks: np.ndarray, target_landmarks: np.ndarray, size: int) -> np.ndarray:
    """(S, S, 2) float32 map: for each target pixel (x, y), where to sample the reference.

    Landmarks are (68, 2) in the box's px (the same box size ``size`` for both).
    """
    src = np.asarray(reference_landmarks, np.float64)
    dst = np.asarray(target_landmarks, np.float64)
    # The head's own motion between the two frames, from the points speech does not move.
    head = estimate_similarity(dst[STABLE], src[STABLE])  # target px -> reference px

    border = _border_points(size)
    points = np.concatenate([dst, border])
    residual = np.concatenate([src - apply_transform(head, dst), np.zeros_like(border)])
    # Closed lips put inner points on top of each other: nudge duplicates apart so Qhull keeps them.
    points = points + np.random.default_rng(0).normal(0.0, 1e-3, points.shape)
    # The residual on a coarse grid at the sample positions cv2.resize maps back onto pixels.
    n = max(2, size // GRID)
    coarse = _interpolate_on_grid(points * (n / size) + (0.5 * n / size - 0.5), residual, n)
    fine = cv2.resize(coarse.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    return fine + apply_transform(head, _pixel_grid(size)).reshape(size, size, 2).astype(np.float32)


def _interpolate_on_grid(points: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """(n, n, 2) ``values`` (P, 2) at ``points`` (P, 2, in grid units) interpolated linearly over their
    Delaunay triangles at the grid's integer points; 0 outside them.

    Points are located by drawing each triangle's index into the grid (OpenCV) rather than with
    Qhull's ``find_simplex``: after that call torch's threads run at half speed (measured on the
    renderer: 315 -> 120 renders/s), which would halve speak's frame rate.
    """
    simplices = Delaunay(points).simplices  # (M, 3)
    labels = np.full((n, n), -1, np.int32)
    for k, simplex in enumerate(simplices):
        cv2.fillConvexPoly(labels, np.rint(points[simplex] * 16).astype(np.int32), k, shift=4)
    rows, cols = np.nonzero(labels >= 0)
    tri = simplices[labels[rows, cols]]  # (G, 3) the triangle of each covered grid point
    a, b, c = points[tri[:, 0]], points[tri[:, 1]], points[tri[:, 2]]
    e1, e2, p = b - a, c - a, np.stack([cols, rows], 1) - a
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    w1 = (p[:, 0] * e2[:, 1] - p[:, 1] * e2[:, 0]) / det
    w2 = (e1[:, 0] * p[:, 1] - e1[:, 1] * p[:, 0]) / det
    out = np.zeros((n, n, values.shape[1]))
    out[rows, cols] = ((1 - w1 - w2)[:, None] * values[tri[:, 0]] + w1[:, None] * values[tri[:, 1]]
                       + w2[:, None] * values[tri[:, 2]])
    return out


@lru_cache(maxsize=8)
def _pixel_grid(size: int) -> np.ndarray:
    """(S * S, 2) float64 (x, y) of every pixel of a ``size`` box, row by row."""
    ys, xs = np.mgrid[0:size, 0:size]
    grid = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    grid.flags.writeable = False
    return grid


def warp_reference(crop: np.ndarray, reference_landmarks: np.ndarray, target_landmarks: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 ``crop`` warped so its landmarks land on ``target_landmarks`` ((68, 2) box px each)."""
    size = crop.shape[0]
    field = warp_field(reference_landmarks, target_landmarks, size)
    return cv2.remap(crop, field[..., 0], field[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
