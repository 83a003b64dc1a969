"""Inference: audio -> lip PCA coefficients and canonical lower-face landmarks at any fps.

    audio2mouth-predict RUN_DIR AUDIO [--fps 25] [--out coeffs.npz]

``predict(run_dir, audio, fps)`` is the entry point of the end-to-end speak
command. Audio is (N,) float32 mono 16 kHz; any other file format, rate or
channel layout goes through ``landmarks.media.load_audio`` first.

Silence: energies are floored in the features, so digital silence looks like
the quiet pauses seen in training. On top of that a gate
(``audio2mouth.silence.SilenceGate``) holds the speaker's rest (closed-mouth)
shape in silence and in long pauses, so pure silence is a closed, still mouth
even for a model that never heard a perfectly silent pause.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from audio2mouth.bundle import Audio2MouthModel, load_bundle
from audio2mouth.features import AudioFeatures, check_audio
from audio2mouth.silence import DEFAULT_GATE, SilenceGate, toward_rest
from audio2mouth.timing import output_frame_times, steps_to_frames
from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.media import AUDIO_RATE, load_audio

MIN_SAMPLES = AUDIO_RATE // 100  # one feature step (10 ms)


def run_net(model: Audio2MouthModel, features: np.ndarray) -> np.ndarray:
    """Raw features (T', d) -> de-normalized coefficients (T', k) at the feature rate."""
    x = torch.from_numpy(model.speaker.feature_norm.apply(features))[None]
    with torch.inference_mode():
        y = model.net(x)[0].numpy()
    return model.speaker.outputs_to_coeffs(y)


def closes_on_bilabials(setting: bool | str, phones) -> bool:
    """Whether the lips are closed on P/B/M: ``auto`` does so only for phones aligned to known words.

    Recognized phones put a P/B/M where the lips are open too often: on the held-out real
    clips the footage's own lips were closed at only 56 % (obama_weekly) and 73 % (macron) of
    the recognized P/B/M, and forcing closures there lowered the rendered mouth's opening r
    (obama 0.60 -> 0.42, macron 0.57 -> 0.53). Words that are known (speak's ``text=``,
    ``transcript=``) give P/B/M where they are said.
    """
    if phones is None:
        return False
    return phones.aligned if setting == "auto" else bool(setting)


def closure_weight(phones, times: np.ndarray, ramp_s: float = 0.02) -> np.ndarray:
    """(T,) in [0, 1]: 1 during each P/B/M phone, ramping linearly to 0 over ``ramp_s`` on each side.

    Lips must touch for P, B and M in every voice and language, but a regression
    trained on a minute of footage averages those brief (50-100 ms) closures
    away: the predicted mouth narrows without closing. This weight lets
    inference close it where the phones say so.
    """
    from landmarks.visemes import bilabial_intervals

    weight = np.zeros(len(times), np.float64)
    for start, end in bilabial_intervals(phones):
        before = np.clip((times - (start - ramp_s)) / max(ramp_s, 1e-3), 0.0, 1.0)
        after = np.clip(((end + ramp_s) - times) / max(ramp_s, 1e-3), 0.0, 1.0)
        weight = np.maximum(weight, np.minimum(before, after))
    return weight


def predict_with(
    model: Audio2MouthModel, audio: np.ndarray, fps: float, gate: SilenceGate | None = DEFAULT_GATE, phones=None,
    bilabial_closure: bool | str = "auto", stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Loaded model + (N,) 16 kHz audio -> (T, k) speech coefficients, T = ceil(duration * fps).

    ``gate``: where the mouth rests whatever the network says (None: nowhere); it judges pauses
    against this audio's own loud speech, so chunks of a longer audio are best gated as a whole
    afterwards (``pipeline.speak.predict_coeffs`` does). ``phones`` (``landmarks.phones.Phones``
    timed from the audio's first sample) feed viseme
    features; without them a model that needs them recognizes them from the audio. With phones
    and ``bilabial_closure`` (True, or "auto" for aligned phones: :func:`closes_on_bilabials`)
    the mouth closes to the speaker's rest shape on P/B/M (:func:`closure_weight`). ``stats``:
    per-utterance feature statistics of a longer whole that this audio is a chunk of
    (``AudioFeatures.utterance_stats``).
    """
    audio = check_audio(audio)
    if len(audio) < MIN_SAMPLES:
        raise LipsyncError(f"audio too short: {len(audio)} samples, need at least 10 ms")
    if fps <= 0:
        raise LipsyncError(f"fps must be positive, got {fps}")
    feats = model.features(audio, phones, stats)
    coeffs_steps = run_net(model, feats)
    frame_times = output_frame_times(len(audio) / AUDIO_RATE, fps)
    coeffs = steps_to_frames(coeffs_steps, model.features.times(len(feats)), frame_times)
    if gate is not None:
        coeffs = gate.apply(coeffs, audio, frame_times, model.speaker.rest_coeffs)
    if closes_on_bilabials(bilabial_closure, phones):
        coeffs = toward_rest(coeffs, closure_weight(phones, frame_times), model.speaker.rest_coeffs)
    return coeffs.astype(np.float32)


def predict(
    run_dir: str | Path | Audio2MouthModel,
    audio: np.ndarray,
    fps: float,
    gate: SilenceGate | None = DEFAULT_GATE,
    phones=None,
) -> np.ndarray:
    """Trained run directory (or a loaded model) + audio -> (T, k) PCA coefficients at ``fps``."""
    model = run_dir if isinstance(run_dir, Audio2MouthModel) else load_bundle(run_dir)
    return predict_with(model, audio, fps, gate, phones)


def lower_face_landmarks(model: Audio2MouthModel, coeffs: np.ndarray) -> np.ndarray:
    """(T, k) speech coefficients -> (T, P, 2) lower-face landmarks in canonical coordinates,
    speech part only (add a template frame's ``pose.pose_part`` before drawing it).

    The points are the model's ``speaker.lower_face_indices`` of the 68-point layout;
    ``landmarks.alignment.replace_lower_face`` puts them into a template frame.
    """
    return model.speaker.pca.decode(coeffs)


def time_inference(
    net: torch.nn.Module,
    features: AudioFeatures,
    seconds: float = 60.0,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Best-of-``repeats`` wall time (s) for ``seconds`` of audio: model only, features + model.

    Uses random speech-like audio; speed does not depend on the content. Phone recognition
    is not included (empty phones): ``benchmarks/bench_phones.py`` times it.
    """
    from landmarks.phones import Phones

    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal(int(seconds * AUDIO_RATE))).astype(np.float32)
    no_phones = Phones(np.zeros(0), np.zeros(0), [])
    net.eval()
    feats = features(audio, no_phones)
    x = torch.from_numpy(feats)[None]
    model_only, total = [], []
    with torch.inference_mode():
        net(x[:, :200])  # warm-up: first call allocates
        for _ in range(repeats):
            t0 = time.perf_counter()
            x = torch.from_numpy(features(audio, no_phones))[None]
            t1 = time.perf_counter()
            net(x)
            t2 = time.perf_counter()
            model_only.append(t2 - t1)
            total.append(t2 - t0)
    return {"infer_model_s": min(model_only), "infer_total_s": min(total)}


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="audio -> lip PCA coefficients (npz)")
    parser.add_argument("run_dir", help="a trained audio2mouth run directory")
    parser.add_argument("audio", help="any audio or video file FFmpeg reads")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--out", default="coeffs.npz")
    args = parser.parse_args(argv)
    if not Path(args.audio).exists():
        raise LipsyncError(f"audio file not found: {args.audio}")
    model = load_bundle(args.run_dir)
    coeffs = predict_with(model, load_audio(args.audio), args.fps)
    tmp = f"{args.out}.tmp.npz"
    np.savez(
        tmp,
        coeffs=coeffs,
        lower_face=lower_face_landmarks(model, coeffs),
        lower_face_indices=model.speaker.lower_face_indices,
        times=output_frame_times(len(coeffs) / args.fps, args.fps),
        fps=np.float64(args.fps),
    )
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(coeffs)} frames at {args.fps} fps")


if __name__ == "__main__":
    main()
