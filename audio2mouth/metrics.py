"""Evaluation metrics of the audio2mouth stage, computed at the video frame rate.

All take predicted and true PCA coefficients (T, k) of the lower face's speech
part in the cache's units (canonical face coordinates projected on the PCA
basis) and a (T,) bool mask of frames with a valid ground-truth face. Shape
metrics add each frame's pose part (T, P, 2) back before measuring, as speak does.

- MSE, MAE: mean squared / absolute error over frames and coefficients.
- Int-MSE: MSE of the frame-to-frame differences (velocity) of the coefficient
  sequences, ``mean((dp[t] - dy[t])**2)`` with ``dx[t] = x[t+1] - x[t]``, over
  pairs of consecutive valid frames. The paper (Zheng et al. 2020) does not
  define it; this is our definition. It is low only if the predicted motion
  has the right dynamics: jitter or lag raises it even when MSE is small.
- landmark RMSE (px): lower-face landmarks decoded from the coefficients and
  mapped back into the full frame with each frame's inverse similarity; root
  of the mean squared point-to-point distance, in full-frame pixels.
- mouth-opening correlation: Pearson r between the predicted and true inner-lip
  gap (points 62-66) over time; 1 = perfectly in phase.
- mouth-opening std ratio: std of the predicted inner-lip gap / std of the true
  one. Below ~0.7 the mouth "mumbles" (MSE rewards a still, average mouth).
- lip LMD / still mouth: the end-to-end LMD (lip points 48-67 of the lower face, each
  set mean-centred, in full-frame px) of the decoded prediction, over the LMD of a
  still mouth (the held-out block's own mean lip shape). The end-to-end target asks
  the rendered mouth for <= 0.75; rendering can only add error, so this is the best
  the renderer can make of the prediction.
"""

from __future__ import annotations

import numpy as np

from landmarks.alignment import apply_transform, invert_transform
from landmarks.indices import INNER_LOWER_MID, INNER_UPPER_MID, LIPS
from landmarks.mouth_distance import centred_distance, still_distance
from landmarks.pca import LowerFacePCA


def coefficient_metrics(pred: np.ndarray, true: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """MSE, MAE and Int-MSE of (T, k) coefficient sequences on frames where ``mask``."""
    err = (pred - true)[mask]
    pair = mask[1:] & mask[:-1]
    vel_err = (np.diff(pred, axis=0) - np.diff(true, axis=0))[pair]
    return {
        "mse": float(np.mean(err**2)) if err.size else float("nan"),
        "mae": float(np.mean(np.abs(err))) if err.size else float("nan"),
        "int_mse": float(np.mean(vel_err**2)) if vel_err.size else float("nan"),
    }


def mouth_positions(lower_face_indices: np.ndarray) -> tuple[int, int]:
    """Positions of landmarks 62 and 66 inside the lower-face point list."""
    idx = list(np.asarray(lower_face_indices).tolist())
    return idx.index(INNER_UPPER_MID), idx.index(INNER_LOWER_MID)


def mouth_opening_from_shapes(shapes: np.ndarray, lower_face_indices: np.ndarray) -> np.ndarray:
    """Inner-lip gap (T,) of canonical lower-face shapes (T, P, 2), in canonical units."""
    upper, lower = mouth_positions(lower_face_indices)
    return np.linalg.norm(shapes[:, lower] - shapes[:, upper], axis=-1)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either sequence is constant (no signal to correlate)."""
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a**2).sum() * (b**2).sum())
    return float((a * b).sum() / denom) if denom > 1e-12 else 0.0


def shape_metrics(
    pred: np.ndarray,
    true: np.ndarray,
    mask: np.ndarray,
    pca: LowerFacePCA,
    lower_face_indices: np.ndarray,
    transforms: np.ndarray | None = None,
    pose_offsets: np.ndarray | None = None,
    train_mean: np.ndarray | None = None,
) -> dict[str, float]:
    """Landmark RMSE in full-frame px (needs (T, 2, 3) frame->canonical transforms), the Pearson
    correlation and the std ratio of mouth opening, on frames where ``mask``.

    With ``train_mean`` (k,), the train block's mean coefficients, also the lip LMD over that of a
    mouth at the train mean with each frame's pose part added (``lip_lmd_over_train_mean``): what a
    model that ignores the audio reaches, beside ``lip_lmd_over_still``, whose still mouth is the
    held-out block's own mean shape and does not turn with the head."""
    pose = 0.0 if pose_offsets is None else np.asarray(pose_offsets)[mask]
    pred_shapes = pca.decode(pred[mask]) + pose
    true_shapes = pca.decode(true[mask]) + pose
    pred_open = mouth_opening_from_shapes(pred_shapes, lower_face_indices)
    true_open = mouth_opening_from_shapes(true_shapes, lower_face_indices)
    out = {
        "mouth_corr": pearson(pred_open, true_open),
        "mouth_std_ratio": float(pred_open.std() / max(true_open.std(), 1e-9)) if len(true_open) else float("nan"),
    }
    if transforms is not None and len(pred_shapes):
        back = invert_transform(np.asarray(transforms, dtype=np.float64)[mask])
        pred_px, true_px = apply_transform(back, pred_shapes), apply_transform(back, true_shapes)
        out["lmk_rmse_px"] = float(np.sqrt(((pred_px - true_px) ** 2).sum(-1).mean()))
        lips = np.isin(np.asarray(lower_face_indices), LIPS)
        still = float(still_distance(true_px[:, lips]).mean())
        out["lip_lmd_px"] = float(centred_distance(pred_px[:, lips], true_px[:, lips]).mean())
        out["lip_lmd_over_still"] = out["lip_lmd_px"] / still if still > 1e-12 else float("nan")
        if train_mean is not None:
            mean_px = apply_transform(back, pca.decode(np.broadcast_to(train_mean, pred[mask].shape)) + pose)
            at_mean = float(centred_distance(mean_px[:, lips], true_px[:, lips]).mean())
            out["lip_lmd_over_train_mean"] = out["lip_lmd_px"] / at_mean if at_mean > 1e-12 else float("nan")
    return out


def all_metrics(
    pred: np.ndarray,
    true: np.ndarray,
    mask: np.ndarray,
    pca: LowerFacePCA,
    lower_face_indices: np.ndarray,
    transforms: np.ndarray | None = None,
    pose_offsets: np.ndarray | None = None,
    train_mean: np.ndarray | None = None,
) -> dict[str, float]:
    """Every metric above as one flat dict (mse, mae, int_mse, mouth_corr, mouth_std_ratio and, with
    ``transforms``, lmk_rmse_px, lip_lmd_px, lip_lmd_over_still; with ``train_mean`` too,
    lip_lmd_over_train_mean)."""
    out = coefficient_metrics(pred, true, mask)
    out.update(shape_metrics(pred, true, mask, pca, lower_face_indices, transforms, pose_offsets, train_mean))
    return out
