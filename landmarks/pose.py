"""Split the canonical lower face into a pose part and a speech part.

A similarity alignment removes head position, in-plane rotation and scale, but
not yaw or pitch: turning the head still moves the jaw contour and the lips in
a 2-D projection. Audio cannot predict that motion, and a template frame at
speak time already fixes it. So we model it apart:

    lower_face(t) = mean + pose_part(upper_face(t)) + speech(t)

``pose_part`` is a linear regression from the canonical geometry of points
that speech does not move (the upper jaw contour near the ears, the nose, the
eyes; the brows are left out because they move with emphasis) to the lower
face. The upper geometry is first reduced to ``n_components`` principal
directions, so the regression can only express a few rigid-pose modes and does
not soak up speech through small correlated landmark jitters. The PCA and the
audio2mouth targets then describe ``speech`` only; speak and evaluate add the
template frame's own pose part back.

Canonical units throughout (see landmarks.alignment). All arrays plain float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landmarks import indices as ix

# Upper jaw contour near the ears (0, 1, 15, 16), nose (27-35) and eyes (36-47).
POSE_POINTS = np.r_[0, 1, 15, 16, 27:48]


@dataclass
class PoseModel:
    """Linear pose part of the lower face.

    feature_mean (F,) and basis (n, F): the upper geometry's mean and principal
    directions (F = 2 x len(points)); weights (n, D): from those n pose values to
    the flattened lower face (D = 2P); points (len,) the landmark indices used.
    """

    feature_mean: np.ndarray
    basis: np.ndarray
    weights: np.ndarray
    points: np.ndarray

    @property
    def n_components(self) -> int:
        return int(self.basis.shape[0])

    @classmethod
    def identity(cls, n_lower_points: int) -> PoseModel:
        """A model whose pose part is always zero (no pose split)."""
        f = 2 * len(POSE_POINTS)
        return cls(np.zeros(f, np.float32), np.zeros((0, f), np.float32),
                   np.zeros((0, 2 * n_lower_points), np.float32), POSE_POINTS.copy())

    @classmethod
    def fit(cls, canonical: np.ndarray, lower: np.ndarray, n_components: int = 4, ridge: float = 1e-3,
            points: np.ndarray = POSE_POINTS) -> PoseModel:
        """Fit on (T, 68, 2) canonical landmarks and their (T, P, 2) lower faces (valid frames only).

        ``ridge`` is relative to the pose values' variance. ``n_components`` 0 gives the identity.
        """
        if n_components <= 0:
            return cls.identity(lower.shape[1])
        feats = canonical[:, points].reshape(len(canonical), -1).astype(np.float64)
        mean = feats.mean(0)
        _, _, vt = np.linalg.svd(feats - mean, full_matrices=False)
        basis = vt[: min(n_components, len(vt))]
        z = (feats - mean) @ basis.T
        target = lower.reshape(len(lower), -1).astype(np.float64)
        target = target - target.mean(0)
        gram = z.T @ z
        gram += ridge * np.trace(gram) / max(len(gram), 1) * np.eye(len(gram))
        weights = np.linalg.solve(gram, z.T @ target)
        return cls(mean.astype(np.float32), basis.astype(np.float32), weights.astype(np.float32),
                   np.asarray(points))

    def pose_values(self, canonical: np.ndarray) -> np.ndarray:
        """(..., 68, 2) canonical landmarks -> (..., n) pose values."""
        feats = canonical[..., self.points, :].reshape(*canonical.shape[:-2], -1)
        return (feats - self.feature_mean) @ self.basis.T

    def pose_part(self, canonical: np.ndarray) -> np.ndarray:
        """(..., 68, 2) canonical landmarks -> (..., P, 2) zero-mean pose offsets of the lower face."""
        flat = self.pose_values(canonical) @ self.weights
        return flat.reshape(*flat.shape[:-1], -1, 2).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays to store (keys prefixed ``pose_``), read back by :meth:`from_arrays`."""
        return {"pose_feature_mean": self.feature_mean, "pose_basis": self.basis,
                "pose_weights": self.weights, "pose_points": np.asarray(self.points)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_lower_points: int) -> PoseModel:
        """Read :meth:`arrays`' output; files without a pose model give the identity."""
        if "pose_weights" not in arrays:
            return cls.identity(n_lower_points)
        return cls(arrays["pose_feature_mean"], arrays["pose_basis"], arrays["pose_weights"],
                   arrays["pose_points"])


def pose_variance_share(lower: np.ndarray, pose: np.ndarray) -> dict[str, float]:
    """How much of the lower face's motion is pose: shares of total variance and of the mouth opening's.

    ``lower`` (T, P, 2) canonical lower faces (points ``ix.LOWER_FACE``), ``pose`` (T, P, 2) their pose parts.
    """
    centred = lower - lower.mean(0)
    total = float((centred**2).sum(-1).sum(-1).mean())
    speech = centred - pose
    positions = list(ix.LOWER_FACE)
    up, low = positions.index(ix.INNER_UPPER_MID), positions.index(ix.INNER_LOWER_MID)
    opening = np.linalg.norm(lower[:, low] - lower[:, up], axis=-1)
    speech_opening = np.linalg.norm((speech + lower.mean(0))[:, low] - (speech + lower.mean(0))[:, up], axis=-1)
    return {
        "pose_share": float(1 - (speech**2).sum(-1).sum(-1).mean() / max(total, 1e-12)),
        "speech_share": float((speech**2).sum(-1).sum(-1).mean() / max(total, 1e-12)),
        "opening_std": float(opening.std()),
        "speech_opening_std": float(speech_opening.std()),
    }
