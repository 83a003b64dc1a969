"""What the newsroom page's requests act on: bundles, uploads, render requests and their status.

Kept apart from the HTTP layer (``studio_server``) so it can be driven and
tested without sockets. Every refusal is a :class:`LipsyncError` whose message
the page shows as is.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from landmarks.errors import LipsyncError
from pipeline.studio_bundles import BundleShelf
from pipeline.studio_jobs import Job, RenderQueue, RenderRequest

PAGE = Path(__file__).with_name("studio_page.html")
MAX_PENDING_UPLOADS = 16  # uploaded files not yet used by a render; the oldest are dropped beyond this


@dataclass
class Upload:
    path: Path
    kind: str  # "audio" or "template"
    name: str  # the file's own name on the editor's machine
    created: float = field(default_factory=time.time)


class Studio:
    def __init__(self, shelf: BundleShelf, jobs: RenderQueue, uploads_dir: Path, max_upload_bytes: int,
                 max_text_chars: int, allowed_hosts: set[str] | None, check_upload=None,
                 takes_transcript: bool = False):
        """``allowed_hosts``: Host header names the page answers to; None answers any (remote access).

        ``takes_transcript``: speak can align an uploaded audio's phones to its words (the page offers a field).
        """
        self.takes_transcript = takes_transcript
        self.shelf, self.jobs, self.uploads_dir = shelf, jobs, Path(uploads_dir)
        self.max_upload_bytes, self.max_text_chars = int(max_upload_bytes), int(max_text_chars)
        self.allowed_hosts = allowed_hosts
        self.page = PAGE.read_bytes()
        self._check_upload = check_upload
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def bundles(self) -> dict:
        return {"bundles": [entry.summary() for entry in self.shelf.entries()], "bundles_dir": str(self.shelf.root),
                "max_upload_mb": round(self.max_upload_bytes / 2**20, 3), "max_text_chars": self.max_text_chars,
                "transcript": self.takes_transcript}

    def check_upload(self, path: Path, kind: str, name: str) -> None:
        if self._check_upload is not None:
            self._check_upload(path, kind, name)

    def add_upload(self, token: str, upload: Upload) -> None:
        with self._lock:
            self._uploads[token] = upload
            for old in sorted(self._uploads, key=lambda t: self._uploads[t].created)[:-MAX_PENDING_UPLOADS]:
                self._uploads.pop(old).path.unlink(missing_ok=True)

    def _upload(self, token, kind: str) -> Upload | None:
        if not token:
            return None
        upload = self._uploads.get(str(token))
        if upload is None or upload.kind != kind:
            raise LipsyncError(f"the uploaded {kind} file is no longer here; choose it again")
        return upload

    def submit(self, data: dict) -> Job:
        """Check a render request (bundle, text or audio, template, start time) and queue it."""
        bundle = str(data.get("bundle") or "")
        self.shelf.get(bundle)
        text = data.get("text")
        transcript = " ".join(str(data.get("transcript") or "").split()) or None
        start = finite_seconds(data.get("template_start_s") or 0, "the template start")
        with self._lock:
            audio = self._upload(data.get("audio"), "audio")
            template = self._upload(data.get("template"), "template")
            if audio is not None and text:
                raise LipsyncError("give the bulletin as text or as an audio file, not both")
            if audio is None:
                if text is None:
                    raise LipsyncError("type the bulletin or upload an audio file")
                from pipeline.tts import check_text

                text = check_text(str(text))
            for words in (text, transcript):
                if words and len(words) > self.max_text_chars:
                    raise LipsyncError(f"the text has {len(words)} characters; the limit is {self.max_text_chars} "
                                       "(max_text_chars=)")
            for token in (data.get("audio"), data.get("template")):  # the job owns them now
                if token:
                    self._uploads.pop(str(token))
        request = RenderRequest(bundle, text=None if audio else text,
                                audio=audio.path if audio else None, audio_name=audio.name if audio else None,
                                template=template.path if template else None,
                                template_name=template.name if template else None, template_start_s=start,
                                transcript=transcript if audio and self.takes_transcript else None)
        job = self.jobs.submit(request)
        print(f"render {job.id} queued: {bundle}, {request.describe()}")
        return job

    def job(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise LipsyncError(f"no render {job_id} in this session's history")
        return job

    def output(self, job_id: int) -> Path:
        job = self.job(job_id)
        if job.state != "done" or job.output is None or not job.output.exists():
            raise LipsyncError(f"render {job_id} has no video (it is {job.state})")
        return job.output

    def status(self, job: Job) -> dict:
        """JSON for the page: state, place in the queue, progress, result or message."""
        done = job.state == "done"
        out = {"id": job.id, "state": job.state, "stage": job.stage(), "ahead": self.jobs.ahead_of(job),
               "frames": job.frames, "n_frames": job.n_frames, "bundle": job.request.bundle,
               "what": job.request.describe(), "message": job.message,
               "submitted": time.strftime("%H:%M:%S", time.localtime(job.submitted)),
               "progress": 1.0 if done else (job.frames / job.n_frames if job.n_frames else 0.0)}
        if done:
            out.update(video=f"/renders/{job.id}.mp4", download=f"/renders/{job.id}.mp4?download=1",
                       filename=job.output.name, audio_s=job.audio_s, render_s=job.finished - job.started)
        return out

    def close(self, timeout: float | None = None) -> None:
        """Stop the queue (a running render finishes) and drop uploads no render used."""
        self.jobs.stop(timeout)
        shutil.rmtree(self.uploads_dir, ignore_errors=True)


def finite_seconds(value, what: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise LipsyncError(f"{what} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise LipsyncError(f"{what} must be 0 or more seconds, got {value!r}")
    return seconds
