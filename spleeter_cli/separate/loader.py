"""Loaded models, shared by every run that needs them.

A model loads on a background thread the first time a file needs it, so the
file's decoding overlaps the runtime's start-up; callers get a ``ModelBatcher``
at once and block only when they first ask for masks. One pool serves one CLI
run, or every call of a long-lived ``SpleeterEngine``. The pool owns the choice of
backend (``models/backend.py``): OpenVINO reads the IR the store keeps beside the
checkpoint and never imports TensorFlow; TensorFlow reads the checkpoint itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..config import BY_KEY
from ..errors import ModelError
from ..models.backend import configure_tensorflow, hide_gpus_from_tensorflow, resolve_backend
from ..models.catalog import ModelSpec
from .turns import CoreTurns, NoTurns

if TYPE_CHECKING:
    import numpy as np

    from ..models.store import ModelManager
    from .batcher import ModelBatcher

Status = Callable[[str], None]


class ModelPool:
    """One batcher per model and precision, created on first use and kept until ``close``.

    ``backend`` is ``auto``, ``openvino`` or ``tensorflow`` (resolved once, here).
    ``enable_gpu=False`` (``performance.enable_gpu``) hides GPUs from TensorFlow, for a machine
    whose GPU is busy with other work or too small for the model. ``threads`` is the runtime's
    inference threads (None: its default, one per core), ``batch_size`` the segments per model
    call, ``memory_growth`` lets TensorFlow take GPU memory as needed (``performance.*``).
    """

    def __init__(
        self,
        enable_gpu: bool = True,
        backend: str = "auto",
        threads: int | None = None,
        batch_size: int = BY_KEY["performance.batch_size"].default,
        memory_growth: bool = False,
    ) -> None:
        self.enable_gpu = enable_gpu
        self.backend = resolve_backend(backend, enable_gpu)
        self.threads = threads
        self.batch_size = batch_size
        self.memory_growth = memory_growth
        # OpenVINO computes on the cores the transforms use: they take turns (turns.py)
        self.turns: CoreTurns | NoTurns = CoreTurns() if self.backend == "openvino" else NoTurns()
        self._lock = threading.Lock()
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="spl-model")
        self._batchers: dict[tuple[str, str], ModelBatcher] = {}

    def get(self, spec: ModelSpec, store: ModelManager, precision: str = "fp32", on_status: Status | None = None) -> ModelBatcher:
        from .batcher import ModelBatcher

        with self._lock:
            key = (spec.name, precision)
            if key not in self._batchers:
                load = self._load_openvino if self.backend == "openvino" else self._load_tensorflow
                loading = _LoadingModel(spec, self._loader.submit(load, spec, store, precision, on_status or _quiet))
                self._batchers[key] = ModelBatcher(spec, loading, self.batch_size)
            return self._batchers[key]

    @classmethod
    def from_settings(cls, settings: Any) -> ModelPool:
        """The pool the ``performance`` settings describe; the one factory of the CLI and the Python API."""
        performance = settings.performance
        return cls(
            performance.enable_gpu, performance.backend, performance.worker_threads, performance.batch_size, performance.gpu_memory_growth
        )

    @property
    def loaded(self) -> list[str]:
        return [name for name, _ in self._batchers]

    def close(self, wait: bool = True) -> None:
        """Release the models; ``wait=False`` (a stopped run) returns at once, even while one is loading."""
        with self._lock:
            for batcher in self._batchers.values():
                batcher.close(wait)
            self._batchers.clear()
        self._loader.shutdown(wait=wait)

    def _load_openvino(self, spec: ModelSpec, store: ModelManager, precision: str, on_status: Status) -> Any:
        """The IR, rebuilt first when missing, damaged or from another OpenVINO release; once more if OpenVINO cannot read it."""
        from ..models.openvino_runtime import load_openvino_model

        directory = store.ensure_ir(spec.name, on_status)
        try:
            model = load_openvino_model(spec, directory, precision, self.threads)
        except ModelError:
            directory = store.ensure_ir(spec.name, on_status, damaged="OpenVINO cannot read it")
            model = load_openvino_model(spec, directory, precision, self.threads)
        return _TakingTurns(model, self.turns)

    def _load_tensorflow(self, spec: ModelSpec, store: ModelManager, precision: str, on_status: Status) -> Any:
        if not self.enable_gpu:
            hide_gpus_from_tensorflow()
        configure_tensorflow(self.threads, self.memory_growth)
        from ..models.checkpoint import checkpoint_prefix
        from ..models.unet import load_model  # TensorFlow: only once a file is actually separated

        return load_model(spec, checkpoint_prefix(store.path(spec.name)))


def _quiet(_: str) -> None:
    """Default status callback."""


class _TakingTurns:
    """A CPU model whose calls wait for the cores' turn (``turns.py``)."""

    def __init__(self, model: Any, turns: CoreTurns | NoTurns) -> None:
        self.spec = model.spec
        self._model = model
        self._turns = turns

    def masks(self, magnitudes: np.ndarray) -> np.ndarray:
        with self._turns.model():
            return self._model.masks(magnitudes)

    def estimates(self, magnitudes: np.ndarray) -> np.ndarray:
        with self._turns.model():
            return self._model.estimates(magnitudes)


class _LoadingModel:
    """Stands in for the model while it loads; calls wait for the load to finish."""

    def __init__(self, spec: ModelSpec, future: Future[Any]) -> None:
        self.spec = spec
        self._future = future

    def masks(self, magnitudes: np.ndarray) -> np.ndarray:
        return self._future.result().masks(magnitudes)

    def estimates(self, magnitudes: np.ndarray) -> np.ndarray:
        return self._future.result().estimates(magnitudes)
