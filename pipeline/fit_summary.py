"""What fit says before and after: the plan with its time estimate, the summary, and their files.

``fit_summary.json`` (plain JSON, in the bundle) holds::

    budget_s, estimate_s, total_s      the budget, the estimate printed at the start, this run's wall time
    spent_s                            wall time per step summed over every run of this bundle
    stages.<name>                      action (train | resume | extend | reuse), seconds (this run),
                                       estimate_s, max_time_s, stop (stopped, epochs, train_s, ...)
    metrics                            held-out metrics: audio2mouth test block, renderer val block
    curves                             bundle-relative paths of the stages' metrics CSVs
    bundle, finished                   where the bundle is, when fit ended (ISO 8601)

and ``curves/<stage>.csv`` the trainers' CSV logs, resumed runs merged by step.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from pipeline.budget import format_duration as fd

SUMMARY = "fit_summary.json"
ACTIONS = {"train": "train", "resume": "resume an interrupted run", "extend": "continue (more budget)",
           "reuse": "reuse the finished run"}


def plan_lines(budget_s: float | None, stages: dict[str, dict], elapsed_s: float, estimate_s: float) -> list[str]:
    """The plan printed before training: each stage's action, time limit and estimate."""
    lines = [f"fit plan (budget {fd(budget_s)}; prepare and throughput probes took {fd(elapsed_s)}):"]
    for name, st in stages.items():
        est = f"~{fd(st['estimate_s'])}" if st.get("estimate_s") is not None else "-"
        limit = f", limit {fd(st['max_time_s'])} of training" if st.get("max_time_s") else ""
        why = f" (until {st['until']}, unless early stopping ends it sooner)" if st.get("until") else ""
        lines.append(f"  {name:<12} {ACTIONS[st['action']]}{limit}: {est}{why}")
    done_at = time.strftime("%H:%M", time.localtime(time.time() + max(estimate_s - elapsed_s, 0)))
    lines.append(f"  estimated total {fd(estimate_s)} (done around {done_at})")
    return lines


def summary_lines(summary: dict) -> list[str]:
    """The summary printed at the end."""
    lines = [f"fit summary: {fd(summary['total_s'])} this run (estimate {fd(summary['estimate_s'])}, "
             f"budget {fd(summary['budget_s'])}, {fd(sum(summary['spent_s'].values()))} over all runs)"]
    for name, st in summary["stages"].items():
        stop = st.get("stop") or {}
        how = (f"stopped by {stop['stopped']} after {stop['epochs']} epochs" if stop else "")
        lines.append(f"  {name:<12} {fd(st['seconds']):>7}  {st['action']}  {how}".rstrip())
    for key, value in summary["metrics"].items():
        lines.append(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    lines.append(f"  bundle: {summary['bundle']}")
    return lines


def held_out_metrics(a2m: dict, renderer: dict) -> dict[str, float]:
    """The headline held-out numbers of both stages."""
    metrics = {f"audio2mouth test/{k}": v for k, v in (a2m.get("test") or {}).items()
               if k in ("mse", "mae", "int_mse", "landmark_rmse_px", "mouth_corr")}
    for key in ("best/val_psnr", "val/psnr", "val/ssim", "val/psnr_mouth"):
        if key in renderer:
            metrics[f"renderer {key}"] = renderer[key]
    return metrics


def merge_metric_logs(run_dir: Path, out: Path) -> Path | None:
    """All ``csv/version_*/metrics.csv`` of a run (one per resumed run) as one CSV sorted by step."""
    rows, columns = [], []
    for path in sorted((run_dir / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:])):
        with open(path) as fh:
            reader = csv.DictReader(fh)
            columns += [c for c in reader.fieldnames or [] if c not in columns]
            rows += list(reader)
    if not rows:
        return None
    rows.sort(key=lambda r: int(r.get("step") or 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out)
    return out


def write_summary(bundle: Path, summary: dict) -> Path:
    path = bundle / SUMMARY
    tmp = path.with_name(f".{SUMMARY}.tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, path)
    return path
