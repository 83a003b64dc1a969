"""The lips as the end-to-end LMD sees them, as a linear map from the networks' outputs.

The reconstruction loss compares normalized PCA coefficients, each with the same weight, so
a coefficient that mostly moves the jaw contour (or a pose residual no audio predicts) counts
as much as the one that opens the lips. LMD, the end-to-end shape measure, sees only the lip
points 48-67, mean-centred. Decoding and centring are linear, so one (k, 2L) matrix takes a
normalized output (k,) to the centred lip points; ``model.lip_loss`` adds an L1 there.
"""

from __future__ import annotations

import numpy as np

from audio2mouth.speaker import SpeakerData
from landmarks.indices import LIPS


def lip_space_map(speaker: SpeakerData) -> np.ndarray:
    """(k, 2L) float32: normalized outputs (k,) @ map = centred lip points (L, 2) flattened.

    Scaled so that unit-variance, uncorrelated outputs move a lip coordinate by 1 on average
    (the coefficient L1's scale), so ``lip_loss`` weights the two terms comparably.
    """
    k = speaker.pca.n_components
    comps = speaker.pca.components.reshape(k, -1, 2)[:, np.isin(speaker.lower_face_indices, LIPS)]
    comps = comps - comps.mean(1, keepdims=True)  # centring the lip set is linear too
    flat = (comps * speaker.target_norm.std.reshape(k, 1, 1)).reshape(k, -1).astype(np.float64)
    typical = float(np.sqrt((flat**2).sum(0)).mean())
    if typical < 1e-12:
        raise ValueError("the PCA does not move the lips: no lip loss to add")
    return (flat / typical).astype(np.float32)
