"""More footage of the same anchor: another clip's speech motion in the main clip's PCA coefficients.

A minute of footage is what the models overfit on (obama_weekly's train block is 18.5 s). Studios
usually hold several recordings of an anchor, so training may add whole other clips, each
prepared on its own (``lipsync-prepare``: its own landmarks, A/V offset, phones and pose model).
Only the main clip supplies the val and test blocks, the PCA and the normalization.

Each clip's canonical frame is normalized by its stable points (landmarks.alignment), so the units
agree, but its orientation is that of its own reference face. And each clip has its own camera,
so its average lower face differs a little for reasons that are not speech. So per extra clip:

    speech(t) = lower_face(t) - pose_part(t)                 (its own pose model)
    motion(t) = R s (speech(t) - mean_valid(speech))         (its reference mapped onto the main's)
    coeffs(t) = main_pca.encode(main_train_mean_shape + motion(t))

R s is the rotation and scale of the similarity between the two reference faces' stable points.
With ``match_motion`` the motion is also scaled by one factor so its variance (summed over the
main PCA's coefficients) equals the main clip's train block: clips of one anchor differ in how
far the mouth moves (obama_clip2's open vowels open 1.47 x as far as obama_weekly's in canonical
units, its P/B/M close 0.82 x as far), and the main clip's framing is what gets rendered.
"""

from __future__ import annotations

import numpy as np

from landmarks.alignment import estimate_similarity
from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError
from landmarks.indices import STABLE


def speech_coeffs_in(main: SpeakerCache, main_train_coeffs: np.ndarray, extra: SpeakerCache,
                     match_motion: bool = True) -> np.ndarray:
    """(T_extra, k) coefficients of ``extra``'s speech motion in ``main``'s PCA, around the main
    clip's train-block mean (``main_train_coeffs`` (N, k), its valid train frames). Rows of frames
    without a valid face are zeros (masked out by the caller)."""
    if not np.array_equal(np.asarray(extra.lower_face_indices), np.asarray(main.lower_face_indices)):
        raise LipsyncError(f"{extra.root} describes other lower-face points than {main.root}: "
                           "prepare both with the same version")
    valid = np.asarray(extra.valid, bool)
    if valid.sum() < 10:
        raise LipsyncError(f"{extra.root} has too few frames with a valid face to train on")
    speech = np.asarray(extra.lower_face_shapes, np.float64) - np.asarray(extra.pose_offsets, np.float64)
    motion = speech - speech[valid].mean(0)
    linear = estimate_similarity(np.asarray(extra.reference)[STABLE], np.asarray(main.reference)[STABLE])[:, :2]
    # The PCA rows are orthonormal, so a displacement's coefficients are its projection on them.
    moved = (motion @ linear.T).reshape(len(motion), -1) @ np.asarray(main.pca.components, np.float64).T
    train = np.asarray(main_train_coeffs, np.float64)
    mean = train.mean(0)
    if match_motion:  # moved is zero-mean over the valid frames
        moved *= np.sqrt(((train - mean) ** 2).sum(1).mean() / max((moved[valid] ** 2).sum(1).mean(), 1e-12))
    return np.where(valid[:, None], mean + moved, 0.0).astype(np.float32)
