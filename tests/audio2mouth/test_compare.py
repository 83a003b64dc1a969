"""A tiny Hydra multirun through the joblib launcher, then the table command on its directory."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from audio2mouth.compare import build_tables, compare, to_markdown

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_sweep_then_tables(fake_cache: Path, tmp_path: Path):
    sweep = tmp_path / "multirun"
    cmd = [
        sys.executable,
        "-m",
        "audio2mouth.train",
        "-m",
        "experiment=compare",
        "speaker=fake",
        f"paths.cache_dir={fake_cache.parent}",
        f"hydra.sweep.dir={sweep}",
        "model=tcn,bilstm",
        "seed=0,1",
        "+trainer.fast_dev_run=true",
        "trainer.enable_progress_bar=false",
        "data.batch_size=4",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(sweep.rglob("results.json"))) == 4  # 2 models x 2 seeds

    out = tmp_path / "tables"
    md = compare(sweep, out)
    for name in ("table1.md", "table1.csv", "table2.md", "table2.csv", "mouth_opening.png"):
        assert (out / name).stat().st_size > 0
    rows = list(csv.reader(open(out / "table1.csv")))
    assert rows[0][:5] == ["model", "seeds", "MSE", "MAE", "Int-MSE"]
    assert {r[0] for r in rows[1:]} == {"Bi-LSTM", "non-causal TCN"}
    assert all(r[1] == "2" and "±" in r[2] for r in rows[1:])
    assert "total train (min)" in md["table2"]

    cli = subprocess.run(
        [sys.executable, "-m", "audio2mouth.compare", str(sweep)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and "Table I" in cli.stdout


def test_tables_are_mean_and_std_over_seeds():
    runs = {
        "tcn": [
            {
                "seed": s,
                "test": {"mse": m, "mae": 0.1, "int_mse": 0.01},
                "train_batch_s": 0.1,
                "train_total_s": 60.0,
                "infer_model_s": 0.01,
                "infer_total_s": 0.02,
            }
            for s, m in ((0, 1.0), (1, 3.0))
        ]
    }
    t1, t2 = build_tables(runs)
    assert t1[1][2] == "2.00000 ± 1.41421"  # sample std over seeds
    assert t2[1][3] == "1.00 ± 0.00"  # 60 s -> 1 min
    assert to_markdown(t1).splitlines()[1] == "|" + "---|" * len(t1[0])


def test_compare_command_gives_a_one_line_error(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "audio2mouth.compare", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: no results.json")
