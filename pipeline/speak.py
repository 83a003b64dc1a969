"""speak: a speaker bundle + new audio or text -> an mp4 of the anchor saying it.

Per output frame: audio2mouth predicts the PCA coefficients of the lower face's
speech part (from audio features and, for viseme models, the timed phones of
the audio: aligned to the words when they are known, recognized otherwise);
they are decoded to canonical landmarks, the template frame's own pose part
(landmarks/pose.py) is added, and the shape is put into the template frame;
``renderer.inference.render_boxes`` cuts the renderer's box from the template
frame, draws the face map there and paints it, in a worker thread
(``pipeline.prefetch``); this thread pastes each box back through a feathered
lower-face mask and streams the frames into the H.264 + AAC writer, so painting
and encoding overlap on two cores. Work happens in chunks of ``chunk_frames``,
so memory does not grow with the audio.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from audio2mouth.silence import DEFAULT_GATE, SilenceGate
from landmarks.alignment import apply_transform, replace_lower_face
from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.media import AUDIO_RATE, load_audio
from landmarks.prepare import ensure_writable, read_transcript, required
from landmarks.timebase import n_frames_for_duration
from pipeline.bundle import SpeakerBundle
from pipeline.template import FrameStore, bounce_indices, prepare_with_bundle_settings, segment_range


@dataclass
class Template:
    """Head pose and background: a prepared clip of the anchor and the clip itself."""

    cache: SpeakerCache
    video: Path


@dataclass
class SpeakResult:
    path: Path
    n_frames: int
    fps: float
    audio_s: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def predict_coeffs(bundle: SpeakerBundle, audio: np.ndarray, fps: float, gate: SilenceGate | None,
                   chunk_s: float = 60.0, context_s: float = 2.0, phones=None,
                   bilabial_closure: bool | str = "auto") -> np.ndarray:
    """(T, k) coefficients for ``audio`` at ``fps``, in chunks of ``chunk_s`` with ``context_s`` margins.

    Each chunk sees ``context_s`` seconds of audio on both sides (more than any
    model's receptive field), so the seams are invisible and memory is bounded.
    ``phones`` (timed from the audio's first sample) are cut to each chunk's time.
    ``gate`` (where the mouth rests) judges the whole audio at once, so every chunk's
    pauses are measured against the same loud speech.
    """
    from audio2mouth.inference import predict_with
    from audio2mouth.timing import output_frame_times

    model = bundle.audio2mouth
    n = n_frames_for_duration(len(audio) / AUDIO_RATE, fps)
    if phones is None and model.features.uses_phones and np.abs(audio).max(initial=0) > 0:
        from landmarks.phones import recognize

        phones = recognize(audio)  # once for the whole audio, so every chunk sees the same phones
    if len(audio) <= (chunk_s + 2 * context_s) * AUDIO_RATE:
        return predict_with(model, audio, fps, gate, phones, bilabial_closure)[:n]
    step = int(round(chunk_s * fps))
    stats = model.features.utterance_stats(audio)  # chunks of one utterance are normalized alike
    out: np.ndarray | None = None
    for f0 in range(0, n, step):
        f1 = min(n, f0 + step)
        s0 = max(0, int(round((f0 / fps - context_s) * AUDIO_RATE)))
        s1 = min(len(audio), int(round((f1 / fps + context_s) * AUDIO_RATE)))
        part = predict_with(model, audio[s0:s1], fps, None,
                            phones.shifted(-s0 / AUDIO_RATE) if phones is not None else None, bilabial_closure,
                            stats)
        if out is None:
            out = np.empty((n, part.shape[1]), np.float32)
        first = int(round((f0 / fps - s0 / AUDIO_RATE) * fps))
        rows = part[first : first + (f1 - f0)]
        if len(rows) < f1 - f0:  # rounding at the very end of the audio
            rows = np.concatenate([rows, np.repeat(rows[-1:], f1 - f0 - len(rows), axis=0)])
        out[f0:f1] = rows
    if gate is not None:
        times = output_frame_times(len(audio) / AUDIO_RATE, fps)[:n]
        out = gate.apply(out, audio, times, model.speaker.rest_coeffs).astype(np.float32)
    return out


def speak(bundle: SpeakerBundle, audio: np.ndarray, out: Path, template: Template | None = None,
          start_s: float = 0.0, duration_s: float | None = None, chunk_frames: int = 16,
          gate: SilenceGate | None = DEFAULT_GATE, colour_match: bool = True, feather: float = 0.04,
          phones=None, bilabial_closure: bool | str = "auto") -> SpeakResult:
    """Render ``audio`` (N,) float32 16 kHz as the bundle's anchor into ``out`` (.mp4).

    ``phones``: timed phones of ``audio`` (``landmarks.phones.Phones``) for viseme models; when
    None and the model needs them they are recognized from the audio. ``bilabial_closure``
    closes the lips on P/B/M (True; "auto": only with phones aligned to known words, see
    ``audio2mouth.inference.closes_on_bilabials``).
    """
    timings: dict[str, float] = defaultdict(float)
    template = template or Template(bundle.template, bundle.template_video)
    cache = template.cache
    if cache.crop_size != bundle.crop_size:
        raise LipsyncError(f"template crops are {cache.crop_size} px, the bundle renders {bundle.crop_size} px")
    fps = cache.fps
    audio_s = len(audio) / AUDIO_RATE
    n_out = n_frames_for_duration(audio_s, fps)
    first, last = segment_range(cache, start_s, duration_s)
    last = min(last, first + n_out - 1)  # a short audio needs only the start of the segment
    if n_out > 2 * (last - first + 1):
        print(f"note: {audio_s:.1f} s of audio on a {(last - first + 1) / fps:.1f} s template: "
              "the template plays back and forth")
    order = bounce_indices(n_out, first, last)

    if phones is None:
        phones = phones_of(bundle, audio, None, timings)
    tick = time.perf_counter()
    coeffs = predict_coeffs(bundle, audio, fps, gate, phones=phones, bilabial_closure=bilabial_closure)
    new_landmarks = landmarks_speaking(bundle, cache, order, coeffs)
    timings["audio2mouth"] += time.perf_counter() - tick
    render_video(bundle, template, audio, order, new_landmarks, out, chunk_frames, colour_match, feather, timings)
    return SpeakResult(out, n_out, fps, audio_s, dict(timings))


def landmarks_speaking(bundle: SpeakerBundle, cache: SpeakerCache, order: np.ndarray,
                       coeffs: np.ndarray) -> np.ndarray:
    """(T, 68, 2) frame-px landmarks of template frames ``order`` (T,) whose lower face says ``coeffs``
    (T, k): the speech part they decode to plus each frame's own pose part (so jaw and lips agree
    with the head they are drawn on), put into the frame."""
    speaker = bundle.audio2mouth.speaker
    speech = speaker.pca.decode(coeffs)  # (T, P, 2) canonical, speech part
    canonical = apply_transform(cache.transforms[order], cache.landmarks[order])
    lower = speech + (speaker.pose.pose_part(canonical) if speaker.pose is not None else 0.0)
    return np.stack([replace_lower_face(cache.landmarks[j], cache.transforms[j], lower[i])
                     for i, j in enumerate(order)])


def render_video(bundle: SpeakerBundle, template: Template, audio: np.ndarray, order: np.ndarray,
                 new_landmarks: np.ndarray, out: Path, chunk_frames: int = 16, colour_match: bool = True,
                 feather: float = 0.04, timings: dict[str, float] | None = None) -> None:
    """Template frames ``order`` (T,) with their lower face redrawn to ``new_landmarks`` (T, 68, 2,
    frame px), muxed with ``audio`` (N,) 16 kHz into ``out``; ``timings`` accumulates seconds per stage."""
    from landmarks.writer import VideoWriter
    from pipeline.prefetch import prefetched
    from renderer.inference import paste_rendered, render_boxes

    timings = timings if timings is not None else defaultdict(float)
    for key in ("decode", "paste", "encode"):
        timings.setdefault(key, 0.0)
    cache = template.cache
    tick = time.perf_counter()
    store = FrameStore(template.video, int(order.min()), int(order.max()))
    timings["decode"] += time.perf_counter() - tick

    def template_frames():
        for j in order:
            tick = time.perf_counter()
            frame = store[j]
            timings["decode"] += time.perf_counter() - tick
            yield frame

    try:
        with VideoWriter(out, cache.fps, audio) as writer:
            rendered = render_boxes(bundle.renderer, template_frames(), cache.crop_boxes[order],
                                    cache.landmarks[order], new_landmarks, cache.valid[order], timings, chunk_frames)
            # Two threads: one decodes and paints the next chunk while this one pastes and encodes
            # (their stage timings overlap in wall time).
            with closing(prefetched(rendered, depth=2 * chunk_frames)) as ahead:  # joined before the store closes
                for item in ahead:
                    frame = paste_rendered(bundle.renderer, item, colour_match, feather, timings)
                    tick = time.perf_counter()
                    writer.write(frame)
                    timings["encode"] += time.perf_counter() - tick
    finally:
        store.close()


def check_output(path: Path) -> Path:
    if path.suffix.lower() != ".mp4":
        raise LipsyncError(f"out must be an .mp4 file, got {path}")
    ensure_writable(path.parent)
    if path.is_dir():
        raise LipsyncError(f"out is a directory: {path}")
    return path


def load_template(cfg: DictConfig, bundle: SpeakerBundle) -> Template | None:
    """Prepare the clip given as ``template=`` with the bundle's face-map settings (cached).

    Its audio is not needed: the template supplies head pose and background only.
    """
    if not cfg.get("template"):
        return None
    video = Path(cfg.template).expanduser()
    cache = prepare_with_bundle_settings(cfg, bundle.manifest["face_map"], f"{bundle.speaker}_template", video,
                                         require_audio=False)
    return Template(cache, video)


def speech_from(cfg: DictConfig) -> tuple[np.ndarray, str | None]:
    """(audio (N,) float32 16 kHz, the words spoken if known: text=, or transcript= for audio=)."""
    audio, text = cfg.get("audio"), cfg.get("text")
    if bool(audio) == bool(text):
        raise LipsyncError("give exactly one of audio=PATH or text=\"...\"")
    if text:
        from pipeline.tts import synthesize

        return synthesize(str(text), str(cfg.get("voice", "en-us"))), str(text)
    return load_audio(Path(str(audio)).expanduser()), read_transcript(cfg)


def phones_of(bundle: SpeakerBundle, audio: np.ndarray, words: str | None, timings: dict | None = None):
    """Timed phones for a viseme model (alignment to ``words`` when known), else None."""
    if not bundle.audio2mouth.features.uses_phones or np.abs(audio).max(initial=0) == 0:
        return None
    from landmarks.phones import phones_for

    tick = time.perf_counter()
    phones = phones_for(audio, words)
    if timings is not None:
        timings["phones"] = time.perf_counter() - tick
    return phones


def gate_from(cfg: DictConfig) -> SilenceGate:
    """The silence gate of speak's and evaluate's ``silence_db``, ``pause_below_peak_db``, ``pause_min_s``."""
    def number(key: str, default: float | None) -> float | None:
        value = cfg.get(key, default)
        if value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise LipsyncError(f"{key} must be a number or null, got {value!r}") from None

    min_s = number("pause_min_s", DEFAULT_GATE.pause_min_s)
    if min_s is None or min_s <= 0:
        raise LipsyncError(f"pause_min_s must be a positive number of seconds, got {min_s}")
    return SilenceGate(number("silence_db", DEFAULT_GATE.silence_db),
                       number("pause_below_peak_db", DEFAULT_GATE.pause_below_peak_db), min_s)


def closure_option(cfg: DictConfig) -> bool | str:
    """The config's ``bilabial_closure``: True, False or "auto"; anything else is a user error."""
    value = cfg.get("bilabial_closure", "auto")
    choices = {"auto": "auto", "true": True, "false": False}
    choice = value if isinstance(value, bool) else choices.get(str(value).lower())
    if choice is None:
        raise LipsyncError(f"bilabial_closure must be auto, true or false, got {value!r}")
    return choice


def save_phones_beside(video: Path, phones) -> Path:
    """``<video>.phones.npz``: the phones the mouth was driven by, for the no-ground-truth sync score."""
    path = video.with_suffix(".phones.npz")
    phones.save(path)
    return path


@exit_on_user_error
def run(cfg: DictConfig) -> SpeakResult:
    bundle = SpeakerBundle.open(Path(required(cfg, "bundle")).expanduser(), cfg.get("detail_transfer"),
                               cfg.get("detail_neighbours"))
    out = check_output(Path(required(cfg, "out")).expanduser())  # before any work
    closure = closure_option(cfg)
    audio, words = speech_from(cfg)
    gate = gate_from(cfg)
    if gate.silence_db is not None and np.abs(audio).max(initial=0) < 10 ** (gate.silence_db / 20):
        print("note: the audio is silent; the anchor will keep a closed, still mouth")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    phones = phones_of(bundle, audio, words, timings)
    result = speak(bundle, audio, out, load_template(cfg, bundle), float(cfg.template_start_s),
                   cfg.template_duration_s, int(cfg.chunk_frames), gate,
                   bool(cfg.colour_match), float(cfg.feather), phones=phones,
                   bilabial_closure=closure)
    result.timings.update(timings)
    if phones is not None:
        save_phones_beside(result.path, phones)
    total = time.perf_counter() - started  # wall time: stages overlap, so their sum would overstate it
    print(f"wrote {result.path}: {result.n_frames} frames at {result.fps:g} fps, {result.audio_s:.2f} s "
          f"(rendered in {total:.1f} s, real-time factor {total / max(result.audio_s, 1e-9):.2f})")
    return result


@hydra.main(config_path="../conf", config_name="speak", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
