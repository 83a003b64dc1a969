"""What a trained audio2mouth model knows about its speaker, and how its outputs become coefficients.

Kept apart from the data module so that speak, which needs this but not training, does not
import PyTorch Lightning (about 4 s of imports on the development CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio2mouth.features import Normalizer
from audio2mouth.metrics import mouth_positions
from landmarks.pca import LowerFacePCA
from landmarks.pose import PoseModel


@dataclass
class SpeakerData:
    """What a trained model needs to know about its speaker (saved with every run)."""

    feature_norm: Normalizer
    target_norm: Normalizer
    pca: LowerFacePCA
    lower_face_indices: np.ndarray  # (P,) indices into the 68-point layout
    reference: np.ndarray  # (68, 2) canonical mean face
    rest_coeffs: np.ndarray  # (k,) closed mouth: mean of the 10 % least open train frames
    fps: float
    pose: PoseModel | None = None  # pose part of the lower face from the upper face (None: no split)
    # (k,) per-coefficient shrinkage of normalized outputs toward the train mean, fitted on
    # the val block (see ``fit_output_gain``); ones = no calibration
    output_gain: np.ndarray | None = None
    # gain on the inner-lip opening direction only, fitted on the val block (``calibrate=opening``,
    # see ``Audio2MouthModule.fit_opening_gain``); 1 = none
    opening_gain: float = 1.0

    def gain(self) -> np.ndarray:
        k = self.target_norm.mean.shape[0]
        return np.ones(k, np.float32) if self.output_gain is None else self.output_gain

    def opening_direction(self) -> np.ndarray:
        """(k,) unit vector in coefficient space along which the inner-lip gap (points 62-66) opens.

        The PCA rows are orthonormal, so this is the shape-space direction that moves only the two
        mid inner-lip points apart vertically, expressed in coefficients. Zero when the PCA cannot
        move them (nothing to scale)."""
        upper, lower = mouth_positions(self.lower_face_indices)
        comps = self.pca.components.reshape(self.pca.n_components, -1, 2)
        direction = (comps[:, lower, 1] - comps[:, upper, 1]).astype(np.float64)
        norm = np.linalg.norm(direction)
        return (direction / norm if norm > 1e-12 else direction).astype(np.float32)

    def outputs_to_coeffs(self, outputs: np.ndarray) -> np.ndarray:
        """Normalized network outputs (T, k) -> PCA coefficients (T, k): the per-coefficient gain,
        de-normalization, then the opening gain around the train mean.

        Scaling along ``opening_direction`` multiplies the (linearized) inner-lip gap's deviation
        from the mean by ``opening_gain`` and leaves every orthogonal shape change alone. A gain
        above 1 also pushes a below-average opening further down; past the speaker's closed rest
        shape that would cross the lips, and the gap, a distance, would open again (on lieu an
        unclamped gain of 2 cost 0.06 of held-out opening r, clamped none). So the gain never
        takes the opening below the rest shape's, unless the network already put it there."""
        return self.with_opening_gain(self.target_norm.invert(outputs * self.gain()), self.opening_gain)

    def with_opening_gain(self, coeffs: np.ndarray, gain: float) -> np.ndarray:
        """(T, k) coefficients at opening gain 1 -> the same at ``gain`` (see :meth:`outputs_to_coeffs`)."""
        if gain == 1.0:
            return coeffs
        u = self.opening_direction()
        mean = self.target_norm.mean
        along = (coeffs - mean) @ u
        rest_along = float((self.rest_coeffs - mean) @ u)
        scaled = np.maximum(gain * along, np.minimum(along, rest_along))
        return coeffs + (scaled - along)[..., None] * u
