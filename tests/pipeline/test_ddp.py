"""Both trainers under DDP with 2 CPU processes (gloo): the code path of ``trainer=ddp`` on GPUs.

Each trainer runs through its console script, as a user would: Lightning's DDP re-launches the
command once per extra process. The 2-process run uses half the per-process batch, so it sees
the same number of examples per step as the 1-process run. Its order of examples differs (each
process draws from its own shard), so the runs are not identical. "The same metric within
noise" is tested as: the 2-process run lies closer to the 1-process run of the same seed than
half the distance to the 1-process run of another seed (the seed is the run-to-run noise of a
short training), with a small stated floor for when two seeds happen to agree closely.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent
TINY_NET = ["render_model.generator.ngf=4", "render_model.generator.max_channels=16",
            "render_model.discriminator.ndf=4"]
TINY_A2M = ["model.net.channels=8", "model.net.dilations=[1,2]", "model.discriminator.channels=8",
            "model.discriminator.dilations=[1,2]"]


def run_cli(script: str, run_dir: Path, args: list[str]) -> None:
    cmd = [str(BIN / script), *args, f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def sample_cache(sample_bundle: Path) -> Path:
    return next((sample_bundle.parent / "cache").glob("sample-*"))


def one_log(run_dir: Path) -> Path:
    """The run's CSV log; a second version would mean a second process wrote one too."""
    logs = sorted((run_dir / "csv").glob("version_*/metrics.csv"))
    assert len(logs) == 1, logs
    return logs[0]


@pytest.mark.slow
def test_renderer_ddp_on_two_cpu_processes_matches_one_process(sample_bundle, tmp_path):
    cache = sample_cache(sample_bundle)
    common = ["speaker=sample", f"render_data.cache={cache}", "crop_size=128", *TINY_NET,
              "trainer.max_epochs=2", "+trainer.limit_train_batches=4", "callbacks.early_stopping=null"]
    psnr = {}
    for name, extra in (("one_s0", ["seed=0"]), ("one_s1", ["seed=1"]),
                        ("ddp_s0", ["seed=0", "trainer=ddp_cpu", "render_data.batch_size=4"])):
        run_cli("renderer-train", tmp_path / name, common + extra)
        psnr[name] = yaml.safe_load((tmp_path / name / "renderer.yaml").read_text())["metrics"]["val/psnr"]
    # Written once, by rank 0: one log with one validation row per epoch, one set of checkpoints.
    rows = [r for r in one_log(tmp_path / "ddp_s0").read_text().splitlines()[1:] if r.split(",")[0]]
    assert sorted((tmp_path / "ddp_s0" / "checkpoints").iterdir()) == [
        tmp_path / "ddp_s0" / "checkpoints" / "best.ckpt", tmp_path / "ddp_s0" / "checkpoints" / "last.ckpt"]
    assert len(rows) >= 2
    noise = max(0.5 * abs(psnr["one_s0"] - psnr["one_s1"]), 0.2)  # dB; 0.2 dB is invisible in a face crop
    print(f"val/psnr: 1 process seeds 0/1 {psnr['one_s0']:.3f}/{psnr['one_s1']:.3f}, "
          f"2 processes {psnr['ddp_s0']:.3f} (tolerance {noise:.3f} dB)")
    assert abs(psnr["ddp_s0"] - psnr["one_s0"]) <= noise


@pytest.mark.slow
def test_audio2mouth_ddp_on_two_cpu_processes_matches_one_process(sample_bundle, tmp_path):
    cache = sample_cache(sample_bundle)
    common = [f"speaker={cache.name}", f"paths.cache_dir={cache.parent}", *TINY_A2M, "trainer.max_epochs=3",
              "callbacks.early_stopping=null", "threads=1"]
    mse = {}
    for name, extra in (("one_s0", ["seed=0"]), ("one_s1", ["seed=1"]),
                        ("ddp_s0", ["seed=0", "trainer=ddp_cpu", "data.batch_size=16"])):
        run_cli("audio2mouth-train", tmp_path / name, common + extra)
        mse[name] = json.loads((tmp_path / name / "results.json").read_text())["best_val"]["val/mse"]
    one_log(tmp_path / "ddp_s0")
    assert (tmp_path / "ddp_s0" / "model" / "weights.pt").exists()
    # The MSE's scale depends on the PCA: the floor is relative, 5 % of the 1-process value.
    noise = max(0.5 * abs(mse["one_s0"] - mse["one_s1"]), 0.05 * mse["one_s0"])
    print(f"val/mse: 1 process seeds 0/1 {mse['one_s0']:.5f}/{mse['one_s1']:.5f}, "
          f"2 processes {mse['ddp_s0']:.5f} (tolerance {noise:.5f})")
    assert abs(mse["ddp_s0"] - mse["one_s0"]) <= noise
