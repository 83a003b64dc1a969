"""Fixtures: a tiny fake speaker cache whose mouth opening is a known function of the audio.

The audio is noise bursts (syllables) separated by digital silence; the mouth
opening is a smoothed RMS envelope of the audio, so MFCC log-energy carries it.
Shapes are built directly in canonical coordinates: a fixed lower face whose
inner/outer lower lip and chin move down with the opening.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from scipy.ndimage import uniform_filter1d

from landmarks.cache import FORMAT_VERSION
from landmarks.indices import LOWER_FACE
from landmarks.pca import LowerFacePCA

CONF = Path(__file__).resolve().parents[2] / "conf"
RATE = 16000


def synthetic_speech(seconds: float, seed: int, with_phones: bool = False):
    """Bursts of band-limited noise of random loudness and length, silent gaps between.

    With ``with_phones`` also returns their "phones": each burst an open vowel (AA), each gap
    silence, as a phone recognizer would time a clean recording of syllables.
    """
    from landmarks.phones import Phones

    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    env = np.zeros(n, np.float32)
    t = int(0.3 * RATE)
    starts, ends, labels = [0.0], [t / RATE], ["SIL"]
    while t < n:
        length = int(rng.uniform(0.08, 0.4) * RATE)
        env[t : t + length] = rng.uniform(0.2, 1.0)
        gap = int(rng.uniform(0.05, 0.5) * RATE)
        starts += [t / RATE, (t + length) / RATE]
        ends += [(t + length) / RATE, (t + length + gap) / RATE]
        labels += ["AA", "SIL"]
        t += length + gap
    env = uniform_filter1d(env, 160)
    noise = uniform_filter1d(rng.standard_normal(n).astype(np.float32), 3)
    audio = (0.3 * env * noise).astype(np.float32)
    return (audio, Phones(np.array(starts), np.array(ends), labels)) if with_phones else audio


def mouth_from_audio(audio: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The known mapping: 40 ms RMS at each time, smoothed over ~80 ms, scaled to [0, ~0.4]."""
    rms = np.sqrt(np.maximum(uniform_filter1d(audio.astype(np.float64) ** 2, 640), 0.0))
    rms = uniform_filter1d(rms, 1280)
    return (np.interp(times, np.arange(len(audio)) / RATE, rms) * 3.0).astype(np.float32)


def write_fake_cache(root: Path, seconds: float = 40.0, fps: float = 25.0, seed: int = 0,
                     reference: np.ndarray | None = None) -> Path:
    """A minimal cache directory with the files audio2mouth reads (no crops/edges). ``reference``
    (68, 2), the canonical mean face, is all zeros unless given (give one where another clip is
    mapped onto this one: extra footage, pretraining)."""
    root.mkdir(parents=True, exist_ok=True)
    audio, phones = synthetic_speech(seconds, seed, with_phones=True)
    phones.save(root / "phones.npz")
    n = int(round(seconds * fps))
    times = np.arange(n) / fps
    opening = mouth_from_audio(audio, times)
    rng = np.random.default_rng(seed + 1)
    base = rng.normal(0, 0.3, (len(LOWER_FACE), 2)).astype(np.float32)
    move = np.zeros_like(base)
    lower_lip = [list(LOWER_FACE).index(i) for i in (55, 56, 57, 58, 59, 65, 66, 67)]
    move[lower_lip, 1] = 1.0
    move[:11, 1] = 0.5  # the chin follows the jaw
    base[list(LOWER_FACE).index(66)] = base[list(LOWER_FACE).index(62)]  # closed at rest
    shapes = base[None] + opening[:, None, None] * move[None]
    shapes += rng.normal(0, 0.002, shapes.shape).astype(np.float32)
    pca = LowerFacePCA.fit(shapes, n_components=4)
    transforms = np.tile(np.array([[0.02, 0, -2.0], [0, 0.02, -2.0]]), (n, 1, 1))
    landmarks = np.full((n, 68, 2), 100.0, np.float32)
    np.savez(
        root / "landmarks.npz",
        timestamps=times,
        landmarks=landmarks,
        valid=np.ones(n, bool),
        transforms=transforms,
        reference=(np.zeros((68, 2)) if reference is None else reference).astype(np.float32),
        crop_boxes=np.tile([100.0, 100.0, 80.0], (n, 1)).astype(np.float32),
    )
    pca.save(root / "pca.npz", coeffs=pca.encode(shapes), lower_face=LOWER_FACE, shapes=shapes)
    np.save(root / "audio_16k.npy", audio)
    meta = {"format_version": FORMAT_VERSION, "speaker": "fake", "fps": fps, "n_frames": n, "crop_size": 32}
    (root / "meta.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="session")
def fake_cache(tmp_path_factory) -> Path:
    return write_fake_cache(tmp_path_factory.mktemp("cache") / "fake-0001")


def _compose_train(overrides: list[str], out_dir: Path):
    """The real training config, shrunk by ``overrides``, writing to ``out_dir``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "audio2mouth_train",
            overrides=[
                f"paths.output_dir={out_dir}",
                "trainer.enable_progress_bar=false",
                *overrides,
            ],
        )
    return cfg


@pytest.fixture
def compose_train():
    """``compose_train(overrides, out_dir)`` -> the composed training config."""
    return _compose_train


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One thread: on a shared 2-core machine, spinning OpenMP threads cost more than they give."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = {
    "adv_tcn": [
        "model.net.channels=8",
        "model.net.dilations=[1,2]",
        "model.discriminator.channels=8",
        "model.discriminator.dilations=[1,2]",
    ],
    "tcn": [
        "model.net.channels=8",
        "model.net.dilations=[1,2]",
        "model.net.causal=true",
        "model.net.lookahead=3",
    ],
    "lstm": ["model.net.hidden=8"],
    "bilstm": ["model.net.hidden=8"],
}


@pytest.fixture
def shrunk(compose_train):
    """Compose the real config for ``model`` on a cache, tiny and fast_dev_run."""

    def make(model: str, cache: Path, out: Path, extra: list[str] = ()):
        return compose_train(
            [
                f"model={model}",
                f"speaker={cache.name.split('-')[0]}",
                f"paths.cache_dir={cache.parent}",
                "data.batch_size=4",
                "+trainer.fast_dev_run=true",
                "logger=csv",
                *TINY[model],
                *extra,
            ],
            out,
        )

    return make
