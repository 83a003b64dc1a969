"""The newsroom page's render queue: one worker thread, one render at a time, a short history.

A request is checked when it is submitted (cheap checks only: the bundle opens,
the text is sayable, the uploads were probed on arrival) and then waits in a
FIFO queue. A single worker thread takes jobs one by one, so two renders never
share the CPU; the page polls :meth:`RenderQueue.status` for the job's place in
the queue and its progress. Whatever goes wrong inside a render becomes the
job's one-line message; the traceback of an unexpected error goes to the
server's log only.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from landmarks.errors import LipsyncError


@dataclass
class RenderRequest:
    """What the editor asked for. ``audio``/``template`` are uploaded files the job owns (deleted at its end)."""

    bundle: str
    text: str | None = None
    audio: Path | None = None
    audio_name: str | None = None  # the uploaded file's own name, for messages
    template: Path | None = None
    template_name: str | None = None
    template_start_s: float = 0.0
    transcript: str | None = None  # with audio: the words spoken, when the editor gives them

    def describe(self) -> str:
        if self.text:
            return f"text: {self.text[:60]}{'…' if len(self.text) > 60 else ''}"
        return f"audio: {self.audio_name}"

    def uploads(self) -> list[Path]:
        return [p for p in (self.audio, self.template) if p is not None]


@dataclass
class Job:
    id: int
    request: RenderRequest
    submitted: float = field(default_factory=time.time)
    state: str = "queued"  # queued -> running -> done | failed
    started: float | None = None
    finished: float | None = None
    frames: int = 0  # frames written so far
    n_frames: int = 0  # frames the output will have (known once writing starts)
    output: Path | None = None
    audio_s: float | None = None
    message: str | None = None
    cancelled: bool = False  # set when the server stops; the render ends at its next frame

    def progress(self, frames: int, n_frames: int) -> None:
        """Called by the renderer after each frame written."""
        self.frames, self.n_frames = frames, n_frames
        if self.cancelled:
            raise LipsyncError("the server stopped during this render")

    def stage(self) -> str:
        if self.state == "running":
            if self.n_frames == 0:
                return "preparing speech, mouth motion and template"
            if self.frames < self.n_frames:
                return f"rendering frame {self.frames + 1} of {self.n_frames}"
            return "finishing the mp4"
        if self.state == "done":
            return f"done in {self.finished - self.started:.1f} s"
        return self.state


RenderFn = Callable[[Job], tuple[Path, float]]  # job -> (final mp4, audio seconds)


class RenderQueue:
    """FIFO of render jobs consumed by one worker thread; keeps the last ``history`` finished jobs."""

    def __init__(self, render: RenderFn, history: int = 10, warm_up: Callable[[], None] | None = None):
        self._render, self._warm_up = render, warm_up
        self._history = max(1, int(history))
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._worker = threading.Thread(target=self._work, name="studio-render", daemon=True)

    def start(self) -> RenderQueue:
        self._worker.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Drop the waiting jobs, end the running one at its next frame (no partial file stays), end the worker."""
        with self._lock:
            for job in self._jobs.values():
                job.cancelled = True
                if job.state == "queued":
                    job.state, job.message = "failed", "the server stopped before this render started"
                    _remove(job.request.uploads())
        self._queue.put(None)
        if self._worker.is_alive():
            self._worker.join(timeout)

    def submit(self, request: RenderRequest) -> Job:
        with self._lock:
            job = Job(next(self._ids), request)
            self._jobs[job.id] = job
            self._trim()
        self._queue.put(job)
        return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def ahead_of(self, job: Job) -> int:
        """How many renders run or wait before ``job`` starts (0 once it runs)."""
        if job.state != "queued":
            return 0
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.state == "running"
                       or (j.state == "queued" and j.id < job.id))

    def jobs(self) -> list[Job]:
        """This session's jobs, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.id)

    def _trim(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.state in ("done", "failed")), key=lambda j: j.id)
        for job in finished[: max(0, len(finished) - self._history)]:
            del self._jobs[job.id]

    def _work(self) -> None:
        if self._warm_up is not None:
            try:
                self._warm_up()
            except Exception:  # the first job will meet the same error and report it
                traceback.print_exc()
        while (job := self._queue.get()) is not None:
            if job.state != "queued":
                continue
            job.state, job.started = "running", time.time()
            try:
                job.output, job.audio_s = self._render(job)
                job.state = "done"
                print(f"render {job.id} done in {time.time() - job.started:.1f} s: {job.output}")
            except LipsyncError as err:
                job.state, job.message = "failed", one_line(str(err))
                print(f"render {job.id} refused: {job.message}")
            except (Exception, SystemExit) as err:  # the page gets one line, the server log the traceback
                traceback.print_exc()
                job.state = "failed"
                job.message = one_line(f"internal error ({type(err).__name__}: {err}); see the server log")
            finally:
                job.finished = time.time()
                _remove(job.request.uploads())
                with self._lock:
                    self._trim()


def one_line(message: str, limit: int = 300) -> str:
    line = " ".join(message.strip().splitlines()[:1]) or "failed"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
