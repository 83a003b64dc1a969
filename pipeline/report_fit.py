"""The report's "Fit" section: budget, time per stage, why each stage stopped, validation curves.

Reads the bundle's ``fit_summary.json`` and ``curves/<stage>.csv`` (written by fit,
``pipeline/fit_summary.py``); a bundle fitted before they existed gets no section.
"""

from __future__ import annotations

import json
from pathlib import Path

from landmarks.errors import LipsyncError
from pipeline.budget import format_duration
from pipeline.fit_summary import SUMMARY
from pipeline.report_plots import plot_curves

CURVES = {"audio2mouth": ["val/mse", "val/mouth_corr"], "renderer": ["val/psnr", "val/ssim", "val/psnr_mouth"]}
STOPPED = {"early_stopping": "early stopping (validation stopped improving)", "budget": "its share of the budget",
           "max_epochs": "its last epoch", "interrupted": "interruption"}


def fit_rows(summary: dict) -> list[tuple[str, str, str, str, str]]:
    """(stage, time this run, time over all runs, action, how it stopped) per stage."""
    rows = []
    for name, stage in summary["stages"].items():
        stop = stage.get("stop") or {}
        how = f"{STOPPED.get(stop.get('stopped'), '-')} after {stop['epochs']} epochs" if stop else "-"
        rows.append((name, format_duration(stage["seconds"]), format_duration(summary["spent_s"].get(name, 0.0)),
                     stage["action"], how))
    return rows


def fit_section(bundle_root: Path, out: Path) -> list[str]:
    """Markdown blocks of the Fit section (empty without a fit summary); curve images go to ``out``."""
    path = bundle_root / SUMMARY
    if not path.exists():
        return []
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise LipsyncError(f"{path} is not valid JSON ({err})") from err
    if not isinstance(summary, dict) or not {"stages", "budget_s", "spent_s"} <= summary.keys():
        # a bundle put together by hand (or by another tool) can carry a summary fit did not write
        return [f"## Fit\n\n`{SUMMARY}` was not written by lipsync-fit (no stages or budget): nothing to show.\n"]
    lines = ["| stage | this run | all runs | action | stopped by |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in fit_rows(summary)]
    head = (f"## Fit\n\nBudget {format_duration(summary['budget_s'])}; this run took "
            f"{format_duration(summary['total_s'])} against an estimate of {format_duration(summary['estimate_s'])}"
            f" (prepare and throughput probes {format_duration(summary.get('prepare_s'))}); "
            f"all runs of this bundle {format_duration(sum(summary['spent_s'].values()))}.\n")
    blocks = [head, "\n".join(lines) + "\n"]
    images = []
    for name, keys in CURVES.items():
        csv_path = bundle_root / (summary.get("curves") or {}).get(name, f"curves/{name}.csv")
        if csv_path.exists() and plot_curves(csv_path, keys, f"{name} validation", out / f"fit_{name}.png"):
            images.append(f"![{name} validation curves](fit_{name}.png)")
    if images:
        blocks.append("### Validation curves\n\n" + "\n\n".join(images) + "\n")
    return blocks
