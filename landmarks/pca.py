"""PCA of the canonical lower-face shape, stored as plain arrays (no pickles).

A shape is P points (lower jaw + lips) in canonical coordinates, flattened to
D = 2P values. Coefficients are the projections on the first k components.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA


@dataclass
class LowerFacePCA:
    """mean (D,), components (k, D) orthonormal rows, explained_variance_ratio (k,)."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def n_points(self) -> int:
        return int(self.mean.shape[0] // 2)

    @classmethod
    def fit(
        cls, shapes: np.ndarray, n_components: int | None = None, explained_variance: float = 0.98,
        max_components: int = 20,
    ) -> LowerFacePCA:
        """Fit on (T, P, 2) canonical shapes.

        ``n_components`` fixes k; otherwise k is the smallest number of components
        that explains ``explained_variance`` of the variance (capped at ``max_components``).
        """
        flat = shapes.reshape(len(shapes), -1).astype(np.float64)
        limit = min(flat.shape[0], flat.shape[1])
        # One decomposition of the D x D covariance (D = 2P is small), then truncate.
        full = PCA(n_components=limit, svd_solver="covariance_eigh").fit(flat)
        if n_components is not None:
            k = min(int(n_components), limit)
        else:
            k = int(np.searchsorted(np.cumsum(full.explained_variance_ratio_), explained_variance) + 1)
            k = max(1, min(k, max_components, limit))
        return cls(
            mean=full.mean_.astype(np.float32),
            components=full.components_[:k].astype(np.float32),
            explained_variance_ratio=full.explained_variance_ratio_[:k].astype(np.float32),
        )

    def encode(self, shapes: np.ndarray) -> np.ndarray:
        """(T, P, 2) canonical shapes -> (T, k) coefficients."""
        flat = shapes.reshape(len(shapes), -1)
        return ((flat - self.mean) @ self.components.T).astype(np.float32)

    def decode(self, coeffs: np.ndarray) -> np.ndarray:
        """(..., k) coefficients -> (..., P, 2) canonical shapes."""
        coeffs = np.asarray(coeffs, dtype=np.float32)
        flat = coeffs @ self.components + self.mean
        return flat.reshape(coeffs.shape[:-1] + (self.n_points, 2))

    def save(self, path: str | Path, **extra: np.ndarray) -> None:
        """Write an .npz of plain arrays (extra arrays, e.g. coefficients, stored alongside)."""
        np.savez(
            path, mean=self.mean, components=self.components,
            explained_variance_ratio=self.explained_variance_ratio, **extra,
        )

    @classmethod
    def load(cls, path: str | Path) -> LowerFacePCA:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["mean"], data["components"], data["explained_variance_ratio"])
