"""4stems, 5stems and -16kHz end to end, with checkpoints of the official layout written by the tests.

The official 4/5-stem weights are not reachable offline, so these checkpoints hold random
weights: the assertions are about the code path (layer names, shapes, activations, softmax
masks, 16 kHz band, file outputs), not about separation quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from checkpoints import write_fake_checkpoint
from conftest import sdr

from spleeter_cli.models.catalog import get_spec
from spleeter_cli.models.store import ModelManager

pytestmark = pytest.mark.slow  # builds 4/5-stem and 16 kHz checkpoints, then separates through the real `spl`

RATE = 44100


def tone_mix(seconds: float, top_hz: float) -> np.ndarray:
    """Stereo sines below ``top_hz``: the model band keeps all of it."""
    t = np.arange(int(seconds * RATE)) / RATE
    freqs = np.linspace(110, top_hz, 7)
    left = sum(np.sin(2 * np.pi * f * t + i) for i, f in enumerate(freqs)) / 8
    right = sum(np.sin(2 * np.pi * f * 1.01 * t) for f in freqs) / 8
    return np.stack([left, right], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def variant_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("variant-models")
    store = ModelManager(models_dir=models, auto_download=False)
    for seed, name in enumerate(("4stems", "5stems", "2stems-16kHz", "5stems-16kHz")):
        prefix = write_fake_checkpoint(get_spec(name), tmp_path_factory.mktemp(name) / name, seed=seed)
        store.import_model(prefix.parent, name)
    return models


@pytest.mark.parametrize(
    ("args", "model", "instruments", "top_hz"),
    [
        (("--stems", "4"), "spleeter:4stems", ["bass", "drums", "other", "vocals"], 9000),
        (("--stems", "5"), "spleeter:5stems", ["bass", "drums", "other", "piano", "vocals"], 9000),
        (("--stems", "2", "--hq"), "spleeter:2stems-16kHz", ["accompaniment", "vocals"], 14000),
        (("-m", "spleeter:5stems-16kHz"), "spleeter:5stems-16kHz", ["bass", "drums", "other", "piano", "vocals"], 14000),
    ],
)
def test_variant_end_to_end(run_spl, variant_models: Path, tmp_path: Path, args, model, instruments, top_hz) -> None:
    mix = tone_mix(14.0, top_hz)  # longer than one 512-frame segment
    song = tmp_path / "tones.wav"
    sf.write(song, mix, RATE, subtype="FLOAT")
    done = run_spl("separate", song, "-o", tmp_path / "out", "--json", *args, env={"SPLEETER_MODELS_DIR": str(variant_models)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["model"] == model and sorted(report["outputs"]) == instruments
    stems = {name: sf.read(path, dtype="float32")[0] for name, path in report["outputs"].items()}
    for name, stem in stems.items():
        assert stem.shape == mix.shape and np.isfinite(stem).all(), name
    # Ratio masks sum to one inside the model's band: the stems add back up to the mix.
    assert sdr(mix, sum(stems.values())) > 40
    # Each instrument's U-Net has its own weights, so no two stems are the same.
    values = list(stems.values())
    assert all(not np.allclose(a, b, atol=1e-4) for i, a in enumerate(values) for b in values[i + 1 :])
