"""Loaded models, shared by every run that needs them.

A model loads on a background thread the first time a file needs it, so the
file's decoding overlaps TensorFlow's start-up; callers get a ``ModelBatcher``
at once and block only when they first ask for masks. One pool serves one CLI
run, or every call of a long-lived ``SpleeterEngine``.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..models.catalog import ModelSpec

if TYPE_CHECKING:
    import numpy as np

    from .batcher import ModelBatcher


class ModelPool:
    """One batcher per model, created on first use and kept until ``close``.

    ``enable_gpu=False`` (``performance.enable_gpu``) hides GPUs from TensorFlow, for a machine
    whose GPU is busy with other work or too small for the model.
    """

    def __init__(self, enable_gpu: bool = True) -> None:
        self.enable_gpu = enable_gpu
        self._lock = threading.Lock()
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="spl-model")
        self._batchers: dict[str, ModelBatcher] = {}

    def get(self, spec: ModelSpec, checkpoint: Path) -> ModelBatcher:
        from .batcher import ModelBatcher

        with self._lock:
            if spec.name not in self._batchers:
                loading = _LoadingModel(spec, self._loader.submit(_load_model, spec, checkpoint, self.enable_gpu))
                self._batchers[spec.name] = ModelBatcher(spec, loading)
            return self._batchers[spec.name]

    @property
    def loaded(self) -> list[str]:
        return list(self._batchers)

    def close(self, wait: bool = True) -> None:
        """Release the models; ``wait=False`` (a stopped run) returns at once, even while one is loading."""
        with self._lock:
            for batcher in self._batchers.values():
                batcher.close(wait)
            self._batchers.clear()
        self._loader.shutdown(wait=wait)


def _load_model(spec: ModelSpec, checkpoint: Path, enable_gpu: bool) -> Any:
    if not enable_gpu:
        hide_gpus()
    from ..models.unet import load_model  # TensorFlow: only once a file is actually separated

    return load_model(spec, checkpoint)


def hide_gpus() -> None:
    """Keep TensorFlow on the CPU: through CUDA's variable before its import, its own API after."""
    if "tensorflow" not in sys.modules:
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        return
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # devices were already initialised by an earlier model in this process
        pass


class _LoadingModel:
    """Stands in for the model while it loads; calls wait for the load to finish."""

    def __init__(self, spec: ModelSpec, future: Future[Any]) -> None:
        self.spec = spec
        self._future = future

    def masks(self, magnitudes: np.ndarray) -> np.ndarray:
        return self._future.result().masks(magnitudes)

    def estimates(self, magnitudes: np.ndarray) -> np.ndarray:
        return self._future.result().estimates(magnitudes)
