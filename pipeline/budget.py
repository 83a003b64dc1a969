"""lipsync-fit's wall-clock budget: read it, share it between the stages, estimate the time.

The budget is the total time a bundle's fit may take (seconds, summed over re-runs):
prepare runs first and its measured time is taken off; audio2mouth, a small network,
gets at most ``audio2mouth_fraction`` of the rest; the renderer gets what remains after
audio2mouth actually finished, less a margin for assembling the bundle. Each trainer
receives its share as Lightning's ``trainer.max_time``; Lightning keeps a stage's elapsed
training time in its checkpoint, so a re-run with a larger budget continues a stage that
ran out of time for the difference only.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from landmarks.errors import LipsyncError

_DURATION = re.compile(r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$")


def parse_duration(value) -> float | None:
    """``45m``, ``1h30m``, ``90s``, ``2h``, ``1.5h`` -> seconds; None/``none`` -> None (no limit)."""
    if value is None or str(value).strip().lower() in ("none", "null", ""):
        return None
    text = str(value).strip().lower().replace(" ", "")
    match = _DURATION.match(text)
    if not match or not any(match.groupdict().values()):
        raise LipsyncError(f"budget={value!r} is not a duration: use e.g. 45m, 1h30m, 90s, 2h (or none)")
    seconds = sum(float(match[unit] or 0) * factor for unit, factor in (("h", 3600), ("m", 60), ("s", 1)))
    if seconds <= 0:
        raise LipsyncError(f"budget={value!r} must be longer than zero")
    return seconds


def format_duration(seconds: float | None) -> str:
    """Seconds -> ``1h05m``, ``12m30s``, ``45s``; None -> ``no limit``."""
    if seconds is None:
        return "no limit"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def lightning_time(seconds: float) -> str:
    """Seconds -> Lightning's ``DD:HH:MM:SS`` for ``trainer.max_time`` (whole seconds, at least 1)."""
    total = max(1, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days:02d}:{hours:02d}:{minutes:02d}:{secs:02d}"


@dataclass(frozen=True)
class Shares:
    """How the budget is split (seconds). ``renderer_s`` assumes audio2mouth uses all of its share."""

    budget_s: float
    prepare_s: float
    audio2mouth_s: float
    renderer_s: float
    assemble_s: float


def share_budget(budget_s: float, prepare_s: float, audio2mouth_fraction: float, assemble_s: float,
                 audio2mouth_used_s: float | None = None) -> Shares:
    """Split ``budget_s`` after ``prepare_s`` was spent; ``audio2mouth_used_s`` once that stage ran.

    Raises LipsyncError when prepare and the assembly margin leave nothing to train with.
    """
    if not 0 < audio2mouth_fraction < 1:
        raise LipsyncError(f"budget_share.audio2mouth must be between 0 and 1, got {audio2mouth_fraction}")
    left = budget_s - prepare_s - assemble_s
    if left <= 0:
        raise LipsyncError(f"budget {format_duration(budget_s)} is used up before training (prepare took "
                           f"{format_duration(prepare_s)}); give a larger budget=")
    a2m = audio2mouth_fraction * left
    used = a2m if audio2mouth_used_s is None else audio2mouth_used_s
    return Shares(budget_s, prepare_s, a2m, max(left - used, 0.0), assemble_s)


@dataclass(frozen=True)
class StageTiming:
    """Throughput of one stage measured on its first training batches (seconds).

    ``overhead_s`` is everything of a stage run that is not a training epoch (data
    setup, test, export), ``batch_s`` the median training batch after a warm-up batch,
    ``val_s`` one full validation pass (one batch timed, times the number of batches).
    """

    overhead_s: float
    batch_s: float
    batches_per_epoch: int
    val_s: float
    max_epochs: int

    @property
    def epoch_s(self) -> float:
        return self.batches_per_epoch * self.batch_s + self.val_s

    def estimate(self, max_time_s: float | None, done_s: float = 0.0) -> tuple[float, str]:
        """(seconds this run will take, what will stop it) if no early stop comes first.

        ``max_time_s`` is the stage's total training time, ``done_s`` what earlier runs
        already trained (a resumed stage only runs the difference).
        """
        train_s = self.max_epochs * self.epoch_s
        if max_time_s is not None and train_s > max_time_s:
            return self.overhead_s + max(max_time_s - done_s, 0.0), "budget"
        return self.overhead_s + max(train_s - done_s, 0.0), "max_epochs"


def batches_per_epoch(n_batches: int, limit) -> int:
    """Lightning's ``limit_*_batches`` applied to a loader of ``n_batches`` (int: count, float: fraction)."""
    if limit is None:
        return n_batches
    if isinstance(limit, float) and limit <= 1.0:
        return int(math.floor(n_batches * limit)) if limit < 1.0 else n_batches
    return min(n_batches, int(limit))


class Ledger:
    """Wall seconds each step of a bundle's fit has spent, summed over runs (``work/fit_state.json``).

    Written after every step, interrupted ones included, so the budget of a re-run
    counts what earlier runs used.
    """

    def __init__(self, path: Path):
        self.path = path
        self.spent: dict[str, float] = {}
        if path.exists():
            try:
                self.spent = {k: float(v) for k, v in json.loads(path.read_text()).get("spent_s", {}).items()}
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                self.spent = {}  # a damaged ledger only costs the budget's memory of earlier runs

    def get(self, step: str) -> float:
        return self.spent.get(step, 0.0)

    def add(self, step: str, seconds: float) -> None:
        self.spent[step] = self.get(step) + float(seconds)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"spent_s": {k: round(v, 2) for k, v in self.spent.items()}}, indent=2))
        os.replace(tmp, self.path)


def max_time_seconds(value) -> float | None:
    """Lightning's ``trainer.max_time`` (``DD:HH:MM:SS`` string or a dict of days/hours/...) in seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = [float(p) for p in value.split(":")]
        return sum(p * f for p, f in zip(reversed(parts), (1, 60, 3600, 86400), strict=False))
    units = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
    return sum(float(value.get(k, 0)) * f for k, f in units.items())


def worth_extending(stop: dict | None, max_time_s: float | None) -> bool:
    """Whether a finished stage should continue from its checkpoint under the new time limit.

    Only a stage the clock stopped is continued, and only when the new limit gives it
    at least 10 % (and 10 s) more training than it had; one that stopped early or ran
    all its epochs is done.
    """
    if not stop or stop.get("stopped") != "budget":
        return False
    if max_time_s is None:
        return True
    return max_time_s > 1.1 * float(stop.get("train_s") or 0.0) + 10.0


def budget_minutes(budget, margin_min=15) -> int:
    """A cluster job's time limit in whole minutes: the budget plus ``margin_min`` (a day without a budget)."""
    seconds = parse_duration(budget)
    return 24 * 60 if seconds is None else int(math.ceil(seconds / 60 + float(margin_min)))
