"""Build TF checkpoints with the official Spleeter variable layout, for tests.

Only 2stems weights are reachable offline; 4stems and 5stems code paths are tested with
checkpoints that have the same names and shapes but deterministic random values. They
are written with ``SaveV2`` because ``tf.train.Checkpoint`` would store object-graph
names instead of the plain TF1 names (``conv2d_3/kernel``) the official files use.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from spleeter_cli.models.catalog import ModelSpec
from spleeter_cli.models.layout import expected_variables

CHECKPOINT_STATE = 'model_checkpoint_path: "model"\nall_model_checkpoint_paths: "model"\n'


def fake_weights(spec: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights that keep a U-Net forward pass finite and non-trivial.

    Kernels are He-scaled so activations neither vanish nor explode over six layers;
    batch norms start near the identity.
    """
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    for name, shape in expected_variables(spec).items():
        kind = name.rsplit("/", 1)[1]
        if kind == "kernel":
            fan_in = shape[0] * shape[1] * (shape[3] if "transpose" in name else shape[2])
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif kind in ("gamma", "moving_variance"):
            value = 1.0 + rng.uniform(-0.1, 0.1, shape)
        else:  # bias, beta, moving_mean
            value = rng.normal(0.0, 0.01, shape)
        weights[name] = value.astype(np.float32)
    return weights


def save_checkpoint(directory: Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` under their plain names as checkpoint ``directory/model``; returns the prefix."""
    import tensorflow as tf

    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "model"
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[n]) for n in names],
    )
    (directory / "checkpoint").write_text(CHECKPOINT_STATE)
    return prefix


def write_fake_checkpoint(spec: ModelSpec, directory: Path, seed: int = 0) -> Path:
    """A checkpoint holding every variable ``spec`` needs, plus ``global_step`` as TF1 saved it."""
    tensors = {**fake_weights(spec, seed), "global_step": np.array(200_000, dtype=np.int64)}
    return save_checkpoint(directory, tensors)


def make_release_tarball(spec: ModelSpec, tmp: Path, seed: int = 0) -> Path:
    """``tmp/<name>.tar.gz`` laid out like the official release assets: files at the archive root."""
    checkpoint_dir = tmp / f"{spec.name}-checkpoint"
    write_fake_checkpoint(spec, checkpoint_dir, seed)
    archive = tmp / f"{spec.archive_name}.tar.gz"
    # Random floats do not compress anyway: storing them (still a valid gzip stream) keeps set-up fast.
    with tarfile.open(archive, "w:gz", compresslevel=0) as tar:
        for path in sorted(checkpoint_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive
