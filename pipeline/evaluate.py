"""evaluate: drive a held-out clip with its own audio and compare with its real frames.

    lipsync-evaluate bundle=DIR clip=VIDEO [audio=PATH] out=FILE.json

The clip is prepared (landmarks, crops) like training footage; speak renders it
with the clip's own head pose and audio; then output and ground truth are
compared frame by frame. Landmarks are detected independently on both.

``drive=landmarks`` renders the clip's own tracked landmarks instead of the
audio's prediction: the ceiling the renderer and the landmark detector leave
for audio2mouth (its opening r and LMD are what a perfect audio2mouth would get).
``drive=train_mean`` renders the train-mean mouth below: the floor, what the
pipeline makes of a mouth that ignores the audio.
``drive=voice`` takes only the voice from the clip (someone other than the anchor): the
bundle's own template is rendered speaking it, and the rendered mouth is scored against
the mouth of the person who spoke (``pipeline.voice_drive``: scale-free figures only).

Two bars for the LMD, both measured on the clip's tracked landmarks without rendering:
the still mouth (the held-out clip's own mean mouth, which no model trained on other
footage can know) and the train-mean mouth (the training footage's mean speech shape
with each frame's pose part: what an audio2mouth that ignores the audio draws).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import cv2
import hydra
import numpy as np
from omegaconf import DictConfig

from landmarks.cache import SpeakerCache
from landmarks.crop import extract_crop
from landmarks.detect import DetectParams, FaceTracker
from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.media import AUDIO_RATE, iter_frames
from landmarks.prepare import ensure_writable, required
from pipeline import metrics as m
from pipeline.bundle import SpeakerBundle
from pipeline.speak import Template, closure_option, gate_from, landmarks_speaking, render_video, speak
from pipeline.sync_score import sync_score
from pipeline.template import prepare_with_bundle_settings, segment_range
from pipeline.voice_drive import compare_voice
from renderer.mouth_metrics import MouthMeter, box_slices

DRIVES = ("audio", "landmarks", "train_mean", "voice")


def compare(rendered: Path, clip: Path, cache: SpeakerCache, first: int, last: int, phones=None,
            strip_png: Path | None = None, train_mean_mouth: np.ndarray | None = None) -> dict:
    """Frame-by-frame comparison of the rendered video with clip frames [first, last].

    ``phones``: the clip's phones timed from frame ``first`` (for the sync scores), or None.
    ``train_mean_mouth``: (last - first + 1, 68, 2) frame-px landmarks of the LMD's second bar
    (:func:`train_mean_mouth`), or None.
    Face-crop PSNR/SSIM are at the crop's size (as training sees it); the mouth-box measures
    (``renderer.mouth_metrics``) and ``face_box_psnr_db`` at the output's resolution.
    ``strip_png``: where to write the mouth close-ups (truth above output), or None.
    """
    tracker = FaceTracker(DetectParams(), cache.fps)
    raw = np.load(cache.root / "landmarks.npz")["raw_landmarks"][first : last + 1]
    size = cache.crop_size
    found, psnrs, ssims, box_psnrs = [], [], [], []
    mouth = MouthMeter(n_closeups=8, closeup_every=max(1, (last - first + 1) // 8))
    clip_frames = (rgb for i, (_, rgb) in enumerate(iter_frames(clip)) if first <= i <= last)
    for i, ((_, out), truth) in enumerate(zip(iter_frames(rendered), clip_frames, strict=False)):
        j = first + i
        points = tracker.update(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY))
        found.append(np.full((68, 2), np.nan, np.float32) if points is None else points)
        if cache.valid[j]:
            box = cache.crop_boxes[j]
            a, b = extract_crop(out, box, size), extract_crop(truth, box, size)
            psnrs.append(m.psnr(a, b))
            ssims.append(m.ssim(a, b))
            rows, cols = box_slices(box, truth.shape)
            box_psnrs.append(m.psnr(out[rows, cols], truth[rows, cols]))
            mouth.add(out, truth, raw[i])
    pred = np.stack(found)
    n = len(pred)
    both = np.isfinite(pred).all((1, 2)) & np.isfinite(raw[:n]).all((1, 2)) & cache.valid[first : first + n]
    if not both.any():
        raise LipsyncError("no frame where a face was found in both the output and the clip")
    energy = m.frame_energy_db(cache.audio[int(round(cache.timestamps[first] * AUDIO_RATE)):], cache.fps, n)
    pred_open, true_open = m.relative_opening(pred[both]), m.relative_opening(raw[:n][both])
    scale = size / cache.crop_boxes[first : first + n][both, 2]  # frame px -> crop px
    lmd = m.lmd(pred[both], raw[:n][both])
    per_frame = {"lmd_px": lmd, "lmd_static_mean_mouth_px": m.static_mouth_lmd(raw[:n][both])}
    if train_mean_mouth is not None:
        per_frame["lmd_train_mean_mouth_px"] = m.lmd(train_mean_mouth[:n][both], raw[:n][both])
    bars = {}
    for bar, values in list(per_frame.items())[1:]:  # each bar, and the share of it the output clears
        bars[bar] = float(values.mean())
        bars[bar.replace("lmd_", "lmd_below_").replace("_px", "")] = 1.0 - float(lmd.mean()) / max(bars[bar], 1e-9)
    times = cache.timestamps[first : first + n][both] - cache.timestamps[first]
    strip = mouth.strip()
    if strip_png is not None and strip is not None:
        cv2.imwrite(str(strip_png), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    sync = {}
    if phones is not None:
        sync = {"sync": sync_score(phones, pred_open, times, cache.fps),
                "sync_ground_truth": sync_score(phones, true_open, times, cache.fps)}
    return {
        "frames": int(n), "frames_compared": int(both.sum()),
        "lmd_px": float(lmd.mean()), f"lmd_crop{size}px": float((lmd * scale).mean()),
        "psnr_db": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)),
        "face_box_psnr_db": float(np.mean(box_psnrs)), **mouth.summary(),
        "mouth_strip": str(strip_png) if strip_png is not None and strip is not None else None,
        "av_offset_ms": m.av_offset_ms(pred_open, energy[both], cache.fps),
        "av_offset_ms_ground_truth": m.av_offset_ms(true_open, energy[both], cache.fps),
        "jitter": m.jitter(pred_open), "jitter_ground_truth": m.jitter(true_open),
        "closed_when_silent": m.closed_when_silent(pred_open, energy[both]),
        "closed_when_silent_ground_truth": m.closed_when_silent(true_open, energy[both]),
        "opening_correlation": float(np.corrcoef(pred_open, true_open)[0, 1]),
        "opening_std_ratio": float(pred_open.std() / max(true_open.std(), 1e-9)),
        **bars,
        **sync,
        "series": {"opening": pred_open.round(4).tolist(), "opening_true": true_open.round(4).tolist(),
                   "energy_db": energy[both].round(2).tolist(),
                   **{key: values.round(3).tolist() for key, values in per_frame.items()}},
    }


def train_mean_mouth(bundle: SpeakerBundle, cache: SpeakerCache, order: np.ndarray) -> np.ndarray:
    """(T, 68, 2) frame-px landmarks of frames ``order`` with the lower face at the training footage's
    mean speech coefficients plus each frame's own pose part: the mouth an audio2mouth that ignores
    the audio would draw there (without the renderer's and the detector's errors)."""
    mean = bundle.audio2mouth.speaker.target_norm.mean
    return landmarks_speaking(bundle, cache, order, np.repeat(mean[None], len(order), 0))


def evaluate(cfg: DictConfig) -> dict:
    bundle = SpeakerBundle.open(Path(required(cfg, "bundle")).expanduser(), cfg.get("detail_transfer"),
                               cfg.get("detail_neighbours"))
    clip = Path(required(cfg, "clip")).expanduser()
    out = Path(required(cfg, "out")).expanduser()
    ensure_writable(out.parent)
    closure = closure_option(cfg)
    drive = str(cfg.get("drive", "audio"))
    if drive not in DRIVES:
        raise LipsyncError(f"drive must be one of {', '.join(DRIVES)}, got {drive!r}")
    cache = prepare_with_bundle_settings(cfg, bundle.manifest["face_map"], f"{bundle.speaker}_eval", clip,
                                         cfg.get("audio"))
    first, last = segment_range(cache, float(cfg.clip_start_s), cfg.clip_duration_s)
    a0 = int(round(cache.timestamps[first] * AUDIO_RATE))
    a1 = int(round((cache.timestamps[last] + 1 / cache.fps) * AUDIO_RATE))
    video_path = out.with_suffix(".mp4")
    # the second LMD bar: the anchor's train-mean mouth on the clip's heads (meaningless on another face)
    bar = None if drive == "voice" else train_mean_mouth(bundle, cache, np.arange(first, last + 1))
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        rendered = Path(tmp) / "rendered.mp4"
        # phones of the clip's (offset-corrected) audio, timed from this segment's first sample
        phones = cache.phones.shifted(-a0 / AUDIO_RATE) if cache.phones is not None else None
        model_phones = phones if bundle.audio2mouth.features.uses_phones else None
        if drive == "voice":  # the anchor's own template speaks the clip's voice
            timings = speak(bundle, cache.audio[a0:a1], rendered, phones=model_phones, bilabial_closure=closure,
                            gate=gate_from(cfg)).timings
        elif drive == "audio":
            timings = speak(bundle, cache.audio[a0:a1], rendered, Template(cache, clip), float(cfg.clip_start_s),
                            cfg.clip_duration_s, phones=model_phones, bilabial_closure=closure,
                            gate=gate_from(cfg)).timings
        else:  # the clip's own tracked mouth (the renderer's ceiling) or the train-mean mouth (no audio)
            order, timings = np.arange(first, last + 1), {}
            drawn = cache.landmarks[order] if drive == "landmarks" else bar
            render_video(bundle, Template(cache, clip), cache.audio[a0:a1], order, drawn, rendered, timings=timings)
        if drive == "voice":
            report = compare_voice(rendered, cache, first, last, phones)
        else:
            report = compare(rendered, clip, cache, first, last, phones, out.with_suffix(".mouth.png"), bar)
        if cfg.get("keep_video", True):
            os.replace(rendered, video_path)
    report = {"bundle": str(bundle.root), "clip": str(clip), "segment_s": [float(cache.timestamps[first]),
              float(cache.timestamps[last] + 1 / cache.fps)], "fps": cache.fps,
              "video": str(video_path) if cfg.get("keep_video", True) else None,
              "drive": drive, "detail_transfer": bundle.renderer.detail_transfer,
              "detail_neighbours": bundle.renderer.detail_neighbours, "speak_timings_s": timings, **report}
    tmp_json = out.with_name(f".{out.name}.tmp")
    tmp_json.write_text(json.dumps(report, indent=2))
    os.replace(tmp_json, out)
    return report


@exit_on_user_error
def run(cfg: DictConfig) -> dict:
    report = evaluate(cfg)
    keys = ["lmd_px", "lmd_static_mean_mouth_px", "lmd_below_static_mean_mouth", "lmd_train_mean_mouth_px",
            "lmd_below_train_mean_mouth", "opening_correlation", "opening_std_ratio", "psnr_db", "ssim",
            "mouth_psnr_db", "mouth_ssim", "sharpness_ratio", "flicker_ratio", "av_offset_ms", "jitter",
            "jitter_ground_truth", "closed_when_silent"]
    if report["drive"] == "voice":
        keys = ["opening_correlation", "best_lag_ms", "best_lag_r", "opening_std_ratio"]
    print("  ".join(f"{k}={report[k]:.4g}" if isinstance(report[k], float) else f"{k}={report[k]}" for k in keys))
    if report.get("sync"):
        print("sync: " + "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in report["sync"].items()))
    print(f"wrote {cfg.out}")
    return report


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
