"""The speaker's own mouth as a reference: training crops indexed by lip shape.

A face map says where the lips are, not what this speaker's teeth, tongue and
inner mouth look like at that shape. Like the teeth proxy of Synthesizing Obama
and the unsynced reference of LipGAN/Wav2Lip, the generator also sees a real
training crop whose lip shape is nearest the target. The bank is a subset of the
training frames chosen to cover lip-shape space (farthest-point sampling), stored
as plain arrays (``reference_bank.npz``) next to the renderer's weights.

Lip descriptor: the 20 lip points (48-67) in render-box px, centred on their mean
and divided by the box size, flattened to (40,). Training excludes bank frames
closer in time than ``exclude_s`` to the target, so the answer never leaks.

The bank also keeps each crop's 68 landmarks, so a chosen crop can be warped onto
the target's (``warp_reference``, :mod:`renderer.reference_warp`). Banks saved
before that have none and can only be used unwarped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landmarks import indices as ix
from landmarks.errors import LipsyncError
from renderer.reference_warp import mean_warped, warp_reference

FILE = "reference_bank.npz"


def lip_descriptors(landmarks_box: np.ndarray, size: int) -> np.ndarray:
    """(T, 40) float32 lip shapes from (T, 68, 2) landmarks in render-box px of a ``size`` box."""
    lips = np.asarray(landmarks_box, np.float64)[:, ix.LIPS]
    lips = (lips - lips.mean(1, keepdims=True)) / size
    return lips.reshape(len(lips), -1).astype(np.float32)


def farthest_points(descriptors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Indices of ``k`` rows of (N, D) ``descriptors`` spread over their space (greedy farthest point)."""
    n = len(descriptors)
    if k >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(n))]
    dist = np.linalg.norm(descriptors - descriptors[chosen[0]], axis=1)
    for _ in range(k - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(descriptors - descriptors[nxt], axis=1))
    return np.sort(np.array(chosen))


@dataclass
class ReferenceBank:
    """``crops`` (K, S, S, 3) uint8 render-box crops, ``descriptors`` (K, 40), ``times`` (K,) seconds,
    ``landmarks`` (K, 68, 2) float32 in render-box px (None in banks saved before they were kept)."""

    crops: np.ndarray
    descriptors: np.ndarray
    times: np.ndarray
    landmarks: np.ndarray | None = None

    def references(self, chosen: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """(T, S, S, 3) uint8 crops of bank entries ``chosen`` (T,).

        With ``targets`` (T, 68, 2) landmarks in render-box px, each crop is warped so
        its own landmarks land on its target's.
        """
        crops = self.crops[np.asarray(chosen)]
        if targets is None:
            return crops
        if self.landmarks is None:
            raise LipsyncError("this reference bank has no landmarks to warp its crops with; "
                               "train the renderer again or set warp_reference=false")
        return np.stack([warp_reference(crop, self.landmarks[k], target)
                         for crop, k, target in zip(crops, chosen, targets, strict=True)])

    def mean_references(self, chosen: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """(T, S, S, 3) uint8: for each target, the mean of the bank crops ``chosen`` (T, K), each
        warped onto the target's (T, 68, 2) landmarks in render-box px."""
        if self.landmarks is None:
            raise LipsyncError("this reference bank has no landmarks to warp its crops with")
        return np.stack([mean_warped(self.crops[row], self.landmarks[row], target)
                         for row, target in zip(np.asarray(chosen), targets, strict=True)])

    def nearest_k(self, descriptors: np.ndarray, k: int) -> np.ndarray:
        """(T, k) bank indices of the ``k`` entries nearest each of (T, 40) ``descriptors``, nearest first."""
        d = np.linalg.norm(descriptors[:, None, :] - self.descriptors[None], axis=-1)  # (T, K)
        k = min(k, len(self.descriptors))
        near = np.argpartition(d, k - 1, axis=1)[:, :k]
        return np.take_along_axis(near, np.argsort(np.take_along_axis(d, near, 1), 1), 1)

    def nearest(self, descriptors: np.ndarray, times: np.ndarray | None = None,
                exclude_s: float = 0.0) -> np.ndarray:
        """(T,) bank index nearest each of (T, 40) ``descriptors``.

        With ``times`` (T,) seconds, bank frames within ``exclude_s`` of the target's
        own time are not eligible (training: the target's own frame or its neighbours).
        """
        d = np.linalg.norm(descriptors[:, None, :] - self.descriptors[None], axis=-1)  # (T, K)
        if times is None or exclude_s <= 0:
            return d.argmin(1)
        gap = np.abs(np.asarray(times)[:, None] - self.times[None])
        d[gap < exclude_s] = np.inf
        # A clip shorter than the window leaves some targets nothing: take the frame farthest in time.
        return np.where(np.isfinite(d).any(1), d.argmin(1), gap.argmax(1))

    def sequence(self, descriptors: np.ndarray, hysteresis: float = 0.25,
                 current: int | None = None) -> np.ndarray:
        """(T,) bank indices for consecutive frames, switching only for a clearly better match.

        The reference changes when the nearest frame is closer than the current one by
        more than ``hysteresis`` x the current distance: a reference that flips every
        frame between two near-equal candidates would make the teeth flicker.
        ``current``: the previous frame's choice (streaming in chunks), or None.
        """
        d = np.linalg.norm(descriptors[:, None, :] - self.descriptors[None], axis=-1)
        out = np.empty(len(d), np.int64)
        if current is None:
            current = int(d[0].argmin()) if len(d) else 0
        for t, row in enumerate(d):
            best = int(row.argmin())
            if row[best] < (1 - hysteresis) * row[current]:
                current = best
            out[t] = current
        return out

    def save(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / FILE
        tmp = path.with_name(f".{path.name}.tmp.npz")
        extra = {} if self.landmarks is None else {"landmarks": self.landmarks}
        np.savez(tmp, crops=self.crops, descriptors=self.descriptors, times=self.times, **extra)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> ReferenceBank:
        path = Path(run_dir) / FILE
        if not path.exists():
            raise LipsyncError(f"this renderer needs its reference bank, missing: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                landmarks = data["landmarks"] if "landmarks" in data.files else None
                return cls(data["crops"], data["descriptors"], data["times"], landmarks)
        except (OSError, KeyError, ValueError) as err:
            raise LipsyncError(f"unreadable reference bank {path}: {err.__class__.__name__}") from err
