"""Which inference runtime runs the U-Nets, decided without importing either.

Two backends compute the same ratio masks: OpenVINO, the default on CPUs (it starts in
tenths of a second, holds about 60 MB of runtime, and has the fastest fp32 CPU kernels
measured here), and TensorFlow, which reads the official checkpoints, builds OpenVINO's
IR from them, runs on CUDA GPUs, and is the reference every test compares against.
Everything here reads files under /proc and package metadata only: choosing must stay
as cheap as parsing a flag.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from ..config import cuda_devices_hidden
from ..errors import ValidationError
from .catalog import BACKENDS, PRECISIONS

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU the NVIDIA driver sees
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic


def resolve_backend(requested: str, enable_gpu: bool = True) -> str:
    """``auto`` -> TensorFlow when it can use a CUDA GPU (and GPU use is on), OpenVINO otherwise."""
    if requested not in BACKENDS:
        raise ValidationError(f"unknown backend '{requested}'", hint=f"choose one of: {', '.join(BACKENDS)}")
    if requested != "auto":
        return requested
    return "tensorflow" if enable_gpu and cuda_gpu_usable() else "openvino"


def cuda_gpu_usable() -> bool:
    """An NVIDIA GPU is present, not hidden by CUDA_VISIBLE_DEVICES, and TensorFlow has a CUDA build.

    ``tensorflow-cpu`` (the default install) cannot use the GPU: choosing TensorFlow there
    would only trade OpenVINO's faster CPU kernels for TensorFlow's.
    """
    if cuda_devices_hidden():
        return False
    try:
        if not any(NVIDIA_GPUS.iterdir()):
            return False
    except OSError:
        return False
    return _installed("tensorflow") and not _installed("tensorflow-cpu")


def check_precision(precision: str, backend: str) -> None:
    """bf16 runs only on OpenVINO, and only on a CPU that computes bf16 natively (else it is emulated, slower than fp32)."""
    if precision not in PRECISIONS:
        raise ValidationError(f"unknown precision '{precision}'", hint=f"choose one of: {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return
    if backend != "openvino":
        raise ValidationError(
            f"precision bf16 needs the openvino backend, not {backend}", hint="use `backend` openvino, or `precision` fp32"
        )
    if not cpu_has_native_bf16():
        raise ValidationError(
            "precision bf16 needs a CPU with native bf16 arithmetic (AVX512_BF16 or AMX-BF16); this CPU has neither",
            hint="use `precision` fp32",
        )


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU advertises AVX512_BF16 or AMX-BF16 (x86 Linux; elsewhere: no)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return any(flag in flags for flag in BF16_CPU_FLAGS)
    return False


def openvino_version() -> str | None:
    """The installed OpenVINO release, from package metadata (importing it costs 0.1 s); None if absent."""
    from importlib import metadata

    try:
        return metadata.version("openvino")
    except metadata.PackageNotFoundError:
        return None


def import_openvino() -> ModuleType:
    """OpenVINO, imported with its usage telemetry off; every spl module that needs OpenVINO imports it here.

    ``import openvino`` reports the import to Google Analytics (and its converter reports each
    conversion) unless the user opted out, and writes a client id under ``~/intel``. A separation
    tool must not phone home, and on an offline machine the attempt only waits on DNS. OpenVINO
    falls back to a no-op stand-in when ``openvino_telemetry`` cannot be imported; a ``None``
    entry in ``sys.modules`` makes that import fail.
    """
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def _installed(distribution: str) -> bool:
    from importlib import metadata  # 0.1-0.2 s to import: only when a GPU is there to decide about

    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def hide_gpus_from_tensorflow() -> None:
    """Keep TensorFlow on the CPU (``performance.enable_gpu: false``): CUDA's variable before its import, its own API after."""
    if "tensorflow" not in sys.modules:
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        return
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # devices were already initialised by an earlier model in this process
        pass


def configure_tensorflow(threads: int | None, memory_growth: bool) -> None:
    """TensorFlow's intra-op threads (``performance.worker_threads``) and GPU memory growth
    (``performance.gpu_memory_growth``): both must be set before TensorFlow first runs anything."""
    import tensorflow as tf

    try:
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        if memory_growth:
            for gpu in tf.config.list_physical_devices("GPU"):
                tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # an earlier model in this process initialised TensorFlow: its settings stay
        pass
