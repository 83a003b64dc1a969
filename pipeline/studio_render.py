"""A studio job rendered through ``lipsync-speak``'s own code path, with frame progress.

The speak config (``conf/speak.yaml`` plus the studio's ``speak=[...]``
overrides) is composed once; each job sets ``bundle``, ``out``, ``text`` or
``audio``, ``template`` and ``template_start_s`` on a copy and calls
``pipeline.speak.run`` itself (undecorated, so a refusal arrives as a
:class:`LipsyncError` for the page rather than an exit). Whatever speak does
next (new features, other checks) applies to the page unchanged.

Progress: ``speak()`` takes no callback, so :func:`counting_frames` wraps the
method every output frame passes through, ``landmarks.writer.VideoWriter.write``
(whose ``count``/``n_frames`` are the frames written / due), for the duration of
one job. Only the studio's single worker thread writes videos in this process.
Before the first frame (speech synthesis, audio → mouth, decoding or preparing
the template) the page says "preparing".
"""

from __future__ import annotations

import copy
import functools
import glob
import inspect
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig

from landmarks.errors import LipsyncError
from pipeline.stages import compose_stage
from pipeline.studio_bundles import BundleShelf
from pipeline.studio_jobs import Job


def literal(value: str) -> str:
    """``value`` escaped so OmegaConf reads it back verbatim (no ``${...}`` interpolation of user text)."""
    return re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)


@contextmanager
def counting_frames(on_frame: Callable[[int, int], None]) -> Iterator[None]:
    """Call ``on_frame(frames_written, frames_due)`` after each frame any VideoWriter writes."""
    from landmarks.writer import VideoWriter

    original = VideoWriter.__dict__.get("write")
    if original is None:  # the writer changed shape: no frame progress, rendering still works
        yield
        return

    @functools.wraps(original)
    def write(self, frame):
        original(self, frame)
        on_frame(int(getattr(self, "count", 0)), int(getattr(self, "n_frames", 0)))

    VideoWriter.write = write
    try:
        yield
    finally:
        VideoWriter.write = original


def check_upload(path: Path, kind: str, name: str) -> None:
    """Probe an uploaded file cheaply: it opens and its first audio (or video) frame decodes."""
    import av

    track = "audio" if kind == "audio" else "video"
    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio if track == "audio" else container.streams.video
            if not streams:
                raise LipsyncError(f"{name} has no {track} track")
            for _ in container.decode(streams[0]):
                return
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise LipsyncError(f"{name} is not a readable {track} file ({type(err).__name__})") from err
    raise LipsyncError(f"{name}: its {track} track holds nothing to decode")


def speak_run() -> Callable[[DictConfig], object]:
    """``pipeline.speak.run`` without its exit-on-error wrapper."""
    from pipeline import speak

    return inspect.unwrap(speak.run)


class SpeakRenderer:
    """Turns a job into ``<out_dir>/<session>_<id>_<bundle>.mp4`` via speak; nothing partial is left behind."""

    def __init__(self, shelf: BundleShelf, out_dir: Path, cache_dir: Path, speak_overrides: Sequence[str] = ()):
        self.shelf, self.out_dir = shelf, Path(out_dir)
        self.base = compose_stage("speak", list(speak_overrides))  # a bad override fails at start, not per job
        self.base.paths.cache_dir = literal(str(Path(cache_dir).resolve()))  # template clips are prepared here
        self.session = time.strftime("%Y%m%d-%H%M%S")

    def warm_up(self) -> None:
        """Import speak and the renderer before the first job, off the request threads."""
        speak_run()
        import landmarks.writer  # noqa: F401

    @property
    def takes_transcript(self) -> bool:
        """Whether this speak accepts the words spoken with audio= (``transcript=``, for phone alignment)."""
        return "transcript" in self.base

    def config(self, job: Job, out: Path, transcript: Path | None = None) -> DictConfig:
        req = job.request
        cfg = copy.deepcopy(self.base)
        cfg.bundle = literal(str((self.shelf.root / req.bundle).resolve()))
        cfg.out = literal(str(out))
        cfg.text = literal(req.text) if req.text else None
        cfg.audio = literal(str(req.audio)) if req.audio else None
        cfg.template = literal(str(req.template)) if req.template else None
        cfg.template_start_s = float(req.template_start_s)
        if transcript is not None and self.takes_transcript:
            cfg.transcript = literal(str(transcript))  # a file, so the words are never taken for a path
        return cfg

    def __call__(self, job: Job) -> tuple[Path, float]:
        req = job.request
        self.shelf.get(req.bundle)  # it may have changed since the request was accepted
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{self.session}_{job.id:03d}"
        tmp = self.out_dir / f".{stem}.rendering.mp4"
        final = self.out_dir / f"{stem}_{req.bundle}.mp4"
        words = self.out_dir / f".{stem}.rendering-words.txt"  # not a sidecar of tmp: never renamed with it
        try:
            if req.transcript:
                words.write_text(req.transcript, encoding="utf-8")
            with counting_frames(job.progress):
                result = speak_run()(self.config(job, tmp, words if req.transcript else None))
            for sidecar in sidecars(tmp):  # files speak writes beside its output (e.g. <out>.phones.npz)
                os.replace(sidecar, final.with_name(final.stem + sidecar.name[len(tmp.stem):]))
            os.replace(tmp, final)
        except LipsyncError as err:
            message = str(err)
            for path, name in ((req.audio, req.audio_name), (req.template, req.template_name)):
                if path is not None:
                    message = message.replace(str(path), name or path.name)
            raise LipsyncError(message) from err
        finally:
            for leftover in [tmp, words, tmp.with_name(f".{tmp.stem}.partial.mp4"), *sidecars(tmp)]:
                leftover.unlink(missing_ok=True)
        return final, float(result.audio_s)


def sidecars(out: Path) -> list[Path]:
    """Files next to ``out`` named ``<out stem>.<something>``, other than ``out`` itself."""
    return [p for p in out.parent.glob(f"{glob.escape(out.stem)}.*") if p != out and p.is_file()]
