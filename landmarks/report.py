"""The data-sufficiency report printed at the end of prepare and saved in the cache.

It answers the studio's question "is this footage enough to train on?":
usable minutes, detection rate, gaps, head-pose spread and mouth-opening range.
"""

from __future__ import annotations

import numpy as np

from landmarks import indices as ix
from landmarks.alignment import apply_transform
from landmarks.smoothing import valid_segments
from landmarks.sync import av_offset, frame_energy_db, relative_opening


def sufficiency_report(
    fps: float, detected: np.ndarray, valid: np.ndarray, landmarks: np.ndarray, transforms: np.ndarray,
    min_usable_minutes: float, audio: np.ndarray | None = None,
) -> dict:
    """Summarize a prepared clip. Angles in degrees, sizes in pixels, opening in canonical units.

    Canonical units: the stable points (eyes, nose) have unit RMS radius, so a
    mouth opening of 0.1 is a tenth of that radius whatever the face size.
    """
    n = len(valid)
    gaps = valid_segments(~valid)
    gap_lengths = np.array([e - s for s, e in gaps], dtype=np.float64)
    lin = transforms[valid, :, :2]
    roll = np.degrees(np.arctan2(lin[:, 1, 0], lin[:, 0, 0])) if len(lin) else np.zeros(0)
    face_px = 1.0 / np.sqrt(np.abs(np.linalg.det(lin))) if len(lin) else np.zeros(0)
    canonical = apply_transform(transforms[valid], landmarks[valid]) if valid.any() else np.zeros((0, 68, 2))
    # Yaw proxy: horizontal offset of the nose tip from the eyes' midpoint, canonical units.
    eyes_mid = (canonical[:, 39] + canonical[:, 42]) / 2 if len(canonical) else np.zeros((0, 2))
    yaw_proxy = canonical[:, 30, 0] - eyes_mid[:, 0] if len(canonical) else np.zeros(0)
    opening = ix.mouth_opening(canonical) if len(canonical) else np.zeros(0)
    usable_minutes = float(valid.sum() / fps / 60.0)
    offset_ms, offset_corr = (None, None)
    if audio is not None and valid.sum() > 2 * fps:
        energy = frame_energy_db(audio, fps, n)[valid]
        offset_ms, offset_corr = av_offset(relative_opening(landmarks[valid]), energy, fps)

    def spread(x: np.ndarray) -> dict:
        if len(x) == 0:
            return {"mean": None, "std": None, "p5": None, "p95": None}
        return {"mean": float(x.mean()), "std": float(x.std()), "p5": float(np.percentile(x, 5)),
                "p95": float(np.percentile(x, 95))}

    warnings = []
    if usable_minutes < min_usable_minutes:
        warnings.append(
            f"only {usable_minutes:.2f} usable minutes (< {min_usable_minutes:g}); expect overfitting, "
            "record more footage"
        )
    if n and detected.mean() < 0.9:
        warnings.append(f"face detected in only {100 * detected.mean():.1f}% of frames")
    roll_spread = np.percentile(roll, 95) - np.percentile(roll, 5) if len(roll) else 0.0
    if roll_spread > 20:
        warnings.append(f"head roll varies over {roll_spread:.0f} degrees (5-95%); frontal footage works best")
    if offset_ms is not None and offset_corr > 0.1 and not -150 <= offset_ms <= 80:
        warnings.append(f"audio and video look out of sync: the mouth matches the sound best at "
                        f"{offset_ms:+.0f} ms (+ = video late); check the source")
    if len(opening) and np.percentile(opening, 95) - np.percentile(opening, 5) < 0.05:
        warnings.append("the mouth barely moves in this footage; is the anchor speaking?")
    return {
        "frames": int(n),
        "duration_s": float(n / fps),
        "fps": float(fps),
        "detection_rate": float(detected.mean()) if n else 0.0,
        "valid_rate": float(valid.mean()) if n else 0.0,
        "usable_minutes": usable_minutes,
        "interpolated_frames": int((valid & ~detected).sum()),
        "invalid_gaps": int(len(gaps)),
        "longest_invalid_gap_s": float(gap_lengths.max() / fps) if len(gaps) else 0.0,
        "head_roll_deg": spread(roll),
        "head_yaw_proxy": spread(yaw_proxy),
        "face_radius_px": spread(face_px),
        "mouth_opening": spread(opening),
        "av_offset_ms": offset_ms,
        "av_offset_peak_correlation": offset_corr,
        "warnings": warnings,
    }


def _offset(report: dict) -> str:
    if report.get("av_offset_ms") is None:
        return "n/a"
    return (f"{report['av_offset_ms']:+.0f} ms (+ = video late; peak correlation of mouth opening "
            f"with audio energy {report['av_offset_peak_correlation']:.2f})")


def _phone_offset(report: dict) -> str:
    rec = report.get("av_offset_phones")
    if not rec or rec.get("estimate_ms") is None:
        return "n/a (no phones)"
    return (f"{rec['estimate_ms']:+.0f} ms (mouth opening vs phone openness, confidence {rec['confidence']:.2f}); "
            f"audio shifted by {rec['applied_ms']:+.0f} ms (landmarks.av_offset={rec['setting']})")


def _pose_split(report: dict) -> str:
    split = report.get("pose_split")
    if not split:
        return "n/a"
    return (f"{100 * split['pose_share']:.0f}% of lower-face motion is head pose, {100 * split['speech_share']:.0f}% "
            f"speech (mouth-opening std {split['speech_opening_std']:.3g} of {split['opening_std']:.3g} in the "
            "speech part)")


def format_report(report: dict, title: str) -> str:
    """Human-readable multi-line rendering of :func:`sufficiency_report`."""

    def fmt(d: dict, unit: str = "") -> str:
        if d["mean"] is None:
            return "n/a"
        return f"mean {d['mean']:.3g}{unit}, std {d['std']:.3g}, 5-95% [{d['p5']:.3g}, {d['p95']:.3g}]"

    lines = [
        f"Data sufficiency: {title}",
        f"  frames            {report['frames']} ({report['duration_s']:.1f} s at {report['fps']:.3g} fps)",
        f"  usable            {report['usable_minutes']:.2f} min ({100 * report['valid_rate']:.1f}% of frames)",
        f"  detection rate    {100 * report['detection_rate']:.1f}%"
        f" ({report['interpolated_frames']} frames interpolated)",
        f"  invalid gaps      {report['invalid_gaps']} (longest {report['longest_invalid_gap_s']:.2f} s)",
        f"  head roll         {fmt(report['head_roll_deg'], ' deg')}",
        f"  head yaw (proxy)  {fmt(report['head_yaw_proxy'])}",
        f"  face radius       {fmt(report['face_radius_px'], ' px')} (RMS radius of eyes + nose)",
        f"  mouth opening     {fmt(report['mouth_opening'])} (canonical units)",
        f"  A/V offset        {_offset(report)}",
        f"  A/V offset phones {_phone_offset(report)}",
        f"  pose vs speech    {_pose_split(report)}",
    ]
    lines += [f"  WARNING: {w}" for w in report["warnings"]] or ["  no warnings"]
    return "\n".join(lines)
