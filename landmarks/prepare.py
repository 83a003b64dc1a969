"""The prepare step: footage of one anchor -> speaker cache (see landmarks/cache.py).

    lipsync-prepare video=PATH [audio=PATH] speaker=NAME paths.cache_dir=DIR

Pass 1 decodes the video once (landmarks + loose work crops, landmarks/extract.py);
pass 2 fills short gaps, smooths, aligns, fits the PCA, cuts the final crops and
Canny edges. Everything is written into a temporary directory that is renamed
only when complete, so an interrupted or failed run never leaves a partial cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from landmarks import indices as ix
from landmarks.alignment import apply_transform, build_reference, fit_transforms, lower_face_canonical
from landmarks.av_offset import correct_offset, timed_phones
from landmarks.cache import FORMAT_VERSION, META, SpeakerCache
from landmarks.crop import crop_matrix, extract_crop, face_boxes, fill_invalid_nearest
from landmarks.detect import DetectParams
from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.extract import FirstPass, run_first_pass
from landmarks.facemap import FaceMapParams, canny_edges
from landmarks.media import AUDIO_RATE, file_sha256, load_audio, probe_video, video_start_time
from landmarks.pca import LowerFacePCA
from landmarks.pose import PoseModel, pose_variance_share
from landmarks.report import format_report, sufficiency_report
from landmarks.smoothing import interpolate_gaps, smooth_tracks


def ensure_writable(directory: Path) -> None:
    """Create ``directory`` if needed and prove we can write in it (before any long work)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise LipsyncError(f"cannot write to {directory}: {err.strerror or err}") from err


def required(cfg: DictConfig, key: str) -> str:
    if OmegaConf.is_missing(cfg, key) or cfg.get(key) in (None, ""):
        raise LipsyncError(f"missing argument {key}=... (see --help)")
    return str(cfg[key])


def cache_key(video_sha: str, audio_sha: str | None, cfg: DictConfig) -> str:
    """Cache identity: the source bytes plus every setting that changes the cache's content."""
    settings = OmegaConf.to_container(cfg.landmarks, resolve=True) | {
        "face_map": OmegaConf.to_container(cfg.face_map, resolve=True),
        "format_version": FORMAT_VERSION,
        "transcript": read_transcript(cfg),
    }
    blob = json.dumps([video_sha, audio_sha, settings], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def read_transcript(cfg: DictConfig) -> str | None:
    """The words spoken in the footage, from ``transcript=`` (a text file's path, or the text itself)."""
    value = cfg.get("transcript")
    if not value:
        return None
    path = Path(str(value)).expanduser()
    if len(str(value)) < 256 and path.suffix.lower() in (".txt", ".md") :
        if not path.exists():
            raise LipsyncError(f"transcript file not found: {path}")
        return path.read_text(encoding="utf-8").strip() or None
    return str(value).strip() or None


def load_speech(video: Path, audio: Path | None, n_frames: int, fps: float,
                has_audio: bool = True) -> tuple[np.ndarray, float]:
    """16 kHz mono audio aligned with frame 0 and padded/trimmed to the video's length.

    A video without audio (allowed only for clips that supply head pose, not
    speech) gets silence. Returns (samples (N,) float32, original duration in seconds).
    """
    if audio is not None:
        samples = load_audio(audio)
    elif has_audio:
        samples = load_audio(video, start_at_s=video_start_time(video))
    else:
        samples = np.zeros(0, np.float32)
    original = len(samples) / AUDIO_RATE
    target = int(round(n_frames / fps * AUDIO_RATE))
    samples = np.pad(samples, (0, max(0, target - len(samples))))[:target]
    return samples.astype(np.float32), original


def second_pass(first: FirstPass, cfg: DictConfig, fps: float, out: Path, progress: bool) -> dict:
    """Gaps, smoothing, alignment, PCA, final crops and edges; writes arrays into ``out``."""
    lcfg = cfg.landmarks
    detected = np.isfinite(first.raw_landmarks).all(axis=(1, 2))
    filled, valid = interpolate_gaps(first.raw_landmarks, detected, int(round(lcfg.smoothing.max_gap_s * fps)))
    smooth = smooth_tracks(filled, valid, lcfg.smoothing.sigma_s * fps)
    # Every stored array is finite: invalid frames carry their nearest valid frame's values.
    smooth = fill_invalid_nearest(smooth, valid)
    reference = build_reference(smooth, valid)
    transforms = fit_transforms(smooth, reference)
    shapes = lower_face_canonical(smooth, transforms).astype(np.float32)
    # Pose part (from the upper face) and speech part of the lower face; the PCA describes speech only.
    # The pose model is fitted before the held-out tail of the clip (pose.fit_frac) so test blocks stay unseen.
    canonical = apply_transform(transforms, smooth)
    fit_rows = valid & (np.arange(len(valid)) < lcfg.pose.fit_frac * len(valid))
    fit_rows = fit_rows if fit_rows.sum() >= 10 else valid
    pose_model = PoseModel.fit(canonical[fit_rows], shapes[fit_rows], lcfg.pose.n_components, lcfg.pose.ridge)
    pose = pose_model.pose_part(canonical).astype(np.float32)
    speech = shapes - pose
    pca = LowerFacePCA.fit(speech[valid], lcfg.pca.n_components, lcfg.pca.explained_variance,
                           lcfg.pca.max_components)
    coeffs = np.where(valid[:, None], pca.encode(speech), 0.0).astype(np.float32)
    boxes = face_boxes(smooth, valid, lcfg.crop.scale, lcfg.crop.smooth_s * fps)

    np.savez(out / "landmarks.npz", timestamps=first.timestamps, landmarks=smooth,
             raw_landmarks=first.raw_landmarks, detected=detected, valid=valid,
             transforms=transforms.astype(np.float32), reference=reference.astype(np.float32),
             crop_boxes=boxes)
    pca.save(out / "pca.npz", coeffs=coeffs, shapes=shapes, pose_offsets=pose, lower_face=ix.LOWER_FACE,
             **pose_model.arrays())

    params = FaceMapParams.from_dict(OmegaConf.to_container(cfg.face_map, resolve=True))
    write_crops_and_edges(first, boxes, params, out, progress)
    return {"valid": valid, "detected": detected, "landmarks": smooth, "transforms": transforms, "pca": pca,
            "pose_split": pose_variance_share(shapes[valid], pose[valid])}


def write_crops_and_edges(first: FirstPass, boxes: np.ndarray, params: FaceMapParams, out: Path,
                          progress: bool) -> None:
    """Cut the final crops from the work crops; write crops.npy and edges.npy frame by frame.

    Streamed through plain file writes (npy header, then rows) so memory stays
    flat however long the clip is.
    """
    size, n, work = params.size, len(boxes), first.work_size
    edge_bytes = (size * size + 7) // 8
    with open(first.work_crops_path, "rb") as source, open(out / "crops.npy", "wb") as crops, \
            open(out / "edges.npy", "wb") as edges:
        np.lib.format.write_array_header_1_0(
            crops, {"descr": "|u1", "fortran_order": False, "shape": (n, size, size, 3)})
        np.lib.format.write_array_header_1_0(
            edges, {"descr": "|u1", "fortran_order": False, "shape": (n, edge_bytes)})
        for i in tqdm(range(n), desc="crops", unit="frame", disable=not progress):
            # Express the final box in the work crop's pixels and cut it from there.
            to_work = crop_matrix(first.work_boxes[i], work)
            centre = to_work @ np.array([boxes[i, 0], boxes[i, 1], 1.0])
            side = boxes[i, 2] * to_work[0, 0]
            crop = extract_crop(first.work_crop(i, source), np.array([*centre, side]), size)
            crops.write(np.ascontiguousarray(crop).tobytes())
            edges.write(np.packbits(canny_edges(crop, params).reshape(-1)).tobytes())


def prepare(cfg: DictConfig, progress: bool = True) -> Path:
    """Build (or reuse) the speaker cache described by ``cfg``; returns its directory."""
    speaker = required(cfg, "speaker")
    video = Path(required(cfg, "video")).expanduser()
    audio = Path(cfg.audio).expanduser() if cfg.get("audio") else None
    cache_root = Path(cfg.paths.cache_dir).expanduser()
    info = probe_video(video)
    if audio is None and not info.has_audio and cfg.get("require_audio", True):
        raise LipsyncError(f"{video} has no audio track; pass the speech as audio=PATH")
    if audio is not None and not audio.exists():
        raise LipsyncError(f"file not found: {audio}")
    ensure_writable(cache_root)

    transcript = read_transcript(cfg)
    video_sha, audio_sha = file_sha256(video), (file_sha256(audio) if audio else None)
    key = cache_key(video_sha, audio_sha, cfg)
    final = cache_root / f"{speaker}-{key}"
    if (final / META).exists() and not cfg.get("force", False):
        print(f"reusing speaker cache {final} (same footage and settings)")
        return final

    scratch = Path(tempfile.mkdtemp(prefix=f".{speaker}-{key}.", dir=cache_root))
    try:
        first = run_first_pass(
            info, DetectParams(**cfg.landmarks.detect), cfg.landmarks.crop.scale,
            cfg.landmarks.crop.work_margin,
            int(round(cfg.face_map.size * cfg.landmarks.crop.work_oversample * cfg.landmarks.crop.work_margin)),
            scratch, progress,
        )
        n = len(first.timestamps)
        if n == 0:
            raise LipsyncError(f"no decodable video frames in {video}")
        if not np.isfinite(first.raw_landmarks).all(axis=(1, 2)).any():
            raise LipsyncError(f"no face found in any of the {n} frames of {video}")
        fps = float(n / (first.timestamps[-1] + 1.0 / info.fps)) if n > 1 else info.fps
        fps = info.fps if abs(fps - info.fps) / info.fps < 0.01 else fps  # keep 29.97 exact
        samples, audio_s = load_speech(video, audio, n, fps, info.has_audio)
        out = scratch / "cache"
        out.mkdir()
        result = second_pass(first, cfg, fps, out, progress)
        phones = None
        if cfg.landmarks.phones.enabled and np.abs(samples).max(initial=0) > 0:
            print("phones: recognizing" if transcript is None else "phones: aligning the transcript")
            phones = timed_phones(samples, cfg, transcript)
        samples, phones, offset = correct_offset(samples, phones, result, fps, first.timestamps,
                                                 cfg.landmarks.av_offset)
        np.save(out / "audio_16k.npy", samples)
        if phones is not None:
            phones.save(out / "phones.npz")

        report = sufficiency_report(fps, result["detected"], result["valid"], result["landmarks"],
                                    result["transforms"], cfg.landmarks.min_usable_minutes, samples)
        report["pose_split"] = result["pose_split"]
        report["av_offset_phones"] = offset
        (out / "report.json").write_text(json.dumps(report, indent=2))
        meta = {
            "format_version": FORMAT_VERSION,
            "speaker": speaker,
            "key": key,
            "source": {"video": str(video.resolve()), "video_sha256": video_sha,
                       "audio": str(audio.resolve()) if audio else None,
                       "audio_sha256": audio_sha,
                       "audio_duration_s": audio_s, "transcript": transcript},
            "av_offset_applied_ms": offset["applied_ms"],
            "fps": fps,
            "n_frames": n,
            "frame_size": [info.width, info.height],
            "crop_size": int(cfg.face_map.size),
            "audio_rate": AUDIO_RATE,
            "lower_face_indices": ix.LOWER_FACE.tolist(),
            "stable_indices": ix.STABLE.tolist(),
            "pca_components": result["pca"].n_components,
            "pca_explained_variance": float(result["pca"].explained_variance_ratio.sum()),
            "face_map": OmegaConf.to_container(cfg.face_map, resolve=True),
            "landmarks_config": OmegaConf.to_container(cfg.landmarks, resolve=True),
        }
        (out / META).write_text(json.dumps(meta, indent=2))
        if final.exists():  # a stale or forced rebuild: replace it
            shutil.rmtree(final)
        os.replace(out, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    SpeakerCache(final)  # proves the cache reads back
    return final


@exit_on_user_error
def run(cfg: DictConfig) -> Path:
    path = prepare(cfg)
    cache = SpeakerCache(path)
    print(format_report(cache.report, f"{cache.meta['speaker']} ({cache.meta['source']['video']})"))
    print(f"speaker cache: {path}")
    return path


@hydra.main(config_path="../conf", config_name="prepare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
