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
2.5-3.5 ms a warp at 128-192 px on the 2-core CPU, about half of it the target's
triangulation, which several references warped onto one target share (:class:`TargetMesh`).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class TargetMesh:
    """The target's landmarks triangulated once, for warping any number of references onto them.

    ``rows``, ``cols`` (G,): the coarse-grid points inside the triangulation; ``corners`` (G, 3)
    the indices of their triangle's points and ``weights`` (G, 3) their barycentric weights;
    ``n`` the coarse grid's side, ``size`` the box's, ``n_points`` the landmarks and border points.
    """

    target: np.ndarray
    size: int
    n: int
    n_points: int
    rows: np.ndarray
    cols: np.ndarray
    corners: np.ndarray
    weights: np.ndarray

    @classmethod
    def build(cls, target_landmarks: np.ndarray, size: int) -> TargetMesh:
        """The mesh of (68, 2) ``target_landmarks`` in px of a ``size`` box, its border pinned."""
        dst = np.asarray(target_landmarks, np.float64)
        points = np.concatenate([dst, _border_points(size)])
        # Closed lips put inner points on top of each other: nudge duplicates apart so Qhull keeps them.
        points = points + np.random.default_rng(0).normal(0.0, 1e-3, points.shape)
        # Interpolated at the coarse grid's sample positions, which cv2.resize maps back onto pixels.
        n = max(2, size // GRID)
        rows, cols, corners, weights = _barycentric_on_grid(points * (n / size) + (0.5 * n / size - 0.5), n)
        return cls(dst, size, n, len(points), rows, cols, corners, weights)

    def field(self, reference_landmarks: np.ndarray) -> np.ndarray:
        """(S, S, 2) float32 map: for each target pixel (x, y), where to sample a reference whose
        (68, 2) landmarks (px of the same box) are ``reference_landmarks``."""
        src = np.asarray(reference_landmarks, np.float64)
        # The head's own motion between the two frames, from the points speech does not move.
        head = estimate_similarity(self.target[STABLE], src[STABLE])  # target px -> reference px
        # What the head's motion leaves at each landmark; the border points (after them) stay put.
        residual = np.zeros((self.n_points, 2))
        residual[: len(src)] = src - apply_transform(head, self.target)
        coarse = np.zeros((self.n, self.n, 2))
        coarse[self.rows, self.cols] = (self.weights[..., None] * residual[self.corners]).sum(1)
        fine = cv2.resize(coarse.astype(np.float32), (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return fine + _affine_map(head, self.size)


def warp_field(reference_landmarks: np.ndarray, target_landmarks: np.ndarray, size: int) -> np.ndarray:
    """(S, S, 2) float32 map: for each target pixel (x, y), where to sample the reference.

    Landmarks are (68, 2) in the box's px (the same box size ``size`` for both).
    """
    return TargetMesh.build(target_landmarks, size).field(reference_landmarks)


def _barycentric_on_grid(points: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The grid points (rows, cols: (G,)) of an (n, n) grid inside the Delaunay triangles of ``points``
    (P, 2, in grid units), their triangle's point indices (G, 3) and barycentric weights (G, 3); grid
    points outside every triangle get no value (0 displacement).

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
    return rows, cols, tri, np.stack([1 - w1 - w2, w1, w2], 1)


def _affine_map(transform: np.ndarray, size: int) -> np.ndarray:
    """(S, S, 2) float32: the (2, 3) ``transform`` applied to every pixel (x, y) of a ``size`` box."""
    axis = np.arange(size, dtype=np.float32)
    a = transform.astype(np.float32)
    out = np.empty((size, size, 2), np.float32)
    for k in range(2):  # x' and y', each a plane a*x + b*y + c
        out[..., k] = a[k, 0] * axis[None, :] + (a[k, 1] * axis[:, None] + a[k, 2])
    return out


def _remap(crop: np.ndarray, field: np.ndarray) -> np.ndarray:
    return cv2.remap(crop, field[..., 0], field[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def warp_reference(crop: np.ndarray, reference_landmarks: np.ndarray, target_landmarks: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 ``crop`` warped so its landmarks land on ``target_landmarks`` ((68, 2) box px each)."""
    return _remap(crop, warp_field(reference_landmarks, target_landmarks, crop.shape[0]))


def mean_warped(crops: np.ndarray, reference_landmarks: np.ndarray, target_landmarks: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 mean of (K, S, S, 3) ``crops``, each warped from its (K, 68, 2) landmarks onto the
    (68, 2) ``target_landmarks``. The target is triangulated once for all K (half of a warp's time)."""
    mesh = TargetMesh.build(target_landmarks, crops.shape[1])
    total = np.zeros(crops.shape[1:], np.float32)
    for crop, landmarks in zip(crops, reference_landmarks, strict=True):
        total += _remap(crop, mesh.field(landmarks))
    return np.clip(np.rint(total / len(crops)), 0, 255).astype(np.uint8)
