"""OpenVINO against TensorFlow: the same stems from every model family, official spleeter still matched.

TensorFlow reads the checkpoints directly and is the reference; OpenVINO runs the IR the
store built from the same checkpoint. fp32 differs only by float rounding (well over 100 dB);
bf16 is a measured trade, checked against the true stems of song3.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from checkpoints import write_fake_checkpoint
from conftest import DATA, read_reference, sdr, song, write_songs

from spleeter_cli.models.backend import check_precision, cpu_has_native_bf16, resolve_backend
from spleeter_cli.models.catalog import get_spec
from spleeter_cli.models.openvino_runtime import OpenVINOModel
from spleeter_cli.models.store import ModelManager
from spleeter_cli.separate.separator import Separator

EQUAL_DB = 100.0  # fp32 on two runtimes: rounding only
WIENER_EQUAL_DB = 90.0  # --mwf divides by small covariances, which amplifies rounding a little


def assert_equal_stems(reference: dict[str, np.ndarray], other: dict[str, np.ndarray], floor: float) -> None:
    assert reference.keys() == other.keys()
    for name in reference:
        assert other[name].shape == reference[name].shape, name
        assert sdr(reference[name], other[name]) >= floor, name


def test_openvino_equals_tensorflow_on_real_music(model_2stems, openvino_2stems) -> None:
    music = song(30.0, seed=1)  # three segments of the real song, so segment edges are crossed
    assert_equal_stems(Separator(model_2stems).separate(music), Separator(openvino_2stems).separate(music), EQUAL_DB)


def test_openvino_matches_official_spleeter(openvino_2stems) -> None:
    """The stored output of official spleeter 2.4.2, from the exact waveform it separated."""
    stems = Separator(openvino_2stems).separate(read_reference("audio_example", "input"))
    assert_equal_stems({name: read_reference("audio_example", name) for name in stems}, stems, EQUAL_DB)


@pytest.mark.slow
def test_wiener_filtering_equal_across_backends(model_2stems, openvino_2stems) -> None:
    music = song(14.0, seed=2)
    tensorflow = Separator(model_2stems).separate(music, wiener=True)
    openvino = Separator(openvino_2stems).separate(music, wiener=True)
    assert_equal_stems(tensorflow, openvino, WIENER_EQUAL_DB)
    plain = Separator(openvino_2stems).separate(music)
    assert sdr(openvino["vocals"], plain["vocals"]) < 40  # the filter really ran


@pytest.fixture(scope="module")
def variant_store(tmp_path_factory: pytest.TempPathFactory) -> ModelManager:
    """4/5-stem and 16 kHz checkpoints of the official layout, imported (the import builds their IRs)."""
    store = ModelManager(models_dir=tmp_path_factory.mktemp("variant-models"), auto_download=False)
    for seed, name in enumerate(("4stems", "5stems", "2stems-16kHz", "4stems-16kHz", "5stems-16kHz")):
        prefix = write_fake_checkpoint(get_spec(name), tmp_path_factory.mktemp(name) / name, seed=seed)
        store.import_model(prefix.parent, name)
    return store


@pytest.mark.slow
@pytest.mark.parametrize("name", ["4stems", "5stems", "2stems-16kHz", "4stems-16kHz", "5stems-16kHz"])
def test_every_model_family_equal_across_backends(variant_store: ModelManager, name: str) -> None:
    from spleeter_cli.models.unet import SpleeterModel

    spec = get_spec(name)
    assert variant_store.ir_problem(name) is None  # built at import
    music = song(14.0, seed=3)
    tensorflow = Separator(SpleeterModel(spec, variant_store.path(name) / "model")).separate(music)
    openvino = Separator(OpenVINOModel(spec, variant_store.path(name))).separate(music)
    assert sorted(openvino) == sorted(spec.instruments)
    assert_equal_stems(tensorflow, openvino, EQUAL_DB)


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 (AVX512_BF16 or AMX-BF16)")
def test_bf16_costs_little_against_the_true_stems(models_dir: Path, openvino_2stems) -> None:
    """bf16 halves the U-Nets' time on CPUs that have it; its cost is measured on song3's true stems."""
    mixture, _ = sf.read(DATA / "song3" / "mixture.flac", dtype="float32")
    truth = {name: sf.read(DATA / "song3" / f"{name}.flac", dtype="float32")[0] for name in ("vocals", "accompaniment")}
    exact = Separator(openvino_2stems).separate(mixture)
    fast = Separator(OpenVINOModel(get_spec("2stems"), models_dir / "2stems", precision="bf16")).separate(mixture)
    for name, true_stem in truth.items():
        assert sdr(true_stem, fast[name]) == pytest.approx(sdr(true_stem, exact[name]), abs=0.3), name
        assert 30 < sdr(exact[name], fast[name]) < EQUAL_DB, name  # close to fp32, but really another computation


def test_bf16_detection_reads_the_cpu_flags(tmp_path: Path) -> None:
    with_bf16 = tmp_path / "bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    without = tmp_path / "plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert cpu_has_native_bf16(with_bf16) and not cpu_has_native_bf16(without)
    assert not cpu_has_native_bf16(tmp_path / "missing")


def test_backend_and_precision_choices() -> None:
    from spleeter_cli.errors import ValidationError

    assert resolve_backend("auto", enable_gpu=False) == "openvino"
    assert resolve_backend("tensorflow") == "tensorflow"
    with pytest.raises(ValidationError, match="needs the openvino backend"):
        check_precision("bf16", "tensorflow")
    with pytest.raises(ValidationError, match="unknown backend"):
        resolve_backend("onnx")


@pytest.mark.slow
def test_results_reports_and_stats_name_the_backend(run_spl, tmp_path: Path) -> None:
    songs = write_songs(tmp_path / "songs", 2, 4.0)
    runs = {}
    for backend in ("openvino", "tensorflow"):
        report = tmp_path / f"{backend}.json"
        done = run_spl("batch", songs[0].parent, "-o", tmp_path / "out", "--force", "--no-cache", "--backend", backend, "--report", report)
        assert done.returncode == 0, done.stderr
        runs[backend] = json.loads(report.read_text())
    for backend, report in runs.items():
        assert [item["backend"] for item in report["inputs"]] == [backend, backend]
        assert report["summary"]["backends"] == [backend]
    cached = run_spl("separate", songs[0], "-o", tmp_path / "cached", "--json")
    cached_again = run_spl("separate", songs[0], "-o", tmp_path / "cached-again", "--json")
    assert json.loads(cached.stdout)["backend"] == "openvino"  # auto, on this CPU-only machine
    assert json.loads(cached_again.stdout)["cache"] is not None and json.loads(cached_again.stdout)["backend"] is None
    stats = json.loads(run_spl("stats", "--json").stdout)
    assert stats["processing_stats"]["inputs_by_backend"] == {"openvino": 3, "tensorflow": 2}
    info = json.loads(run_spl("models", "info", "2stems", "--json").stdout)[0]
    assert info["backend"] == "openvino" and info["openvino_ir"]["usable"]
    refused = run_spl("separate", songs[0], "-o", tmp_path / "bf16", "--backend", "tensorflow", "--precision", "bf16")
    assert refused.returncode == 2 and "precision bf16 needs the openvino backend" in refused.stderr


def test_the_ir_splits_single_channel_deconvolutions(models_dir: Path) -> None:
    """The slow one-output-channel transposed convolutions are rewritten (their equality is tested above)."""
    from spleeter_cli.models.backend import import_openvino

    model = import_openvino().Core().read_model(models_dir / "2stems" / "openvino.xml")
    kinds = [op.get_type_name() for op in model.get_ordered_ops()]
    deconvolutions = [op for op in model.get_ordered_ops() if op.get_type_name() == "ConvolutionBackpropData"]
    assert kinds.count("DepthToSpace") == 2  # one per U-Net
    assert len(deconvolutions) == 10 and all(op.get_output_partial_shape(0)[1].get_length() > 1 for op in deconvolutions)
