"""The U-Nets on OpenVINO: the default CPU backend, with no TensorFlow in the process.

It answers the same two calls as ``unet.SpleeterModel`` (``masks``, ``estimates``), from
the IR the store built beside the checkpoint (``ir.py``). The batcher calls it from one
thread, with any number of segments.

Why one segment per inference, on a static shape: measured on the 2-core development
machine (2stems, fp32), a call over one segment costs 0.154 s and one over two 0.157 s
per segment, so batching buys nothing on a CPU, while the compiled model's activation
memory grows with the batch (peak RSS 354 MB for one segment, 433 MB for two, 475 MB
with a dynamic batch dimension, which also keeps memory for every size it has seen).

Why no compiled-model cache (OpenVINO's ``CACHE_DIR``): reading and compiling the IR
takes 0.22-0.30 s, from the cache 0.18-0.21 s, while the model loads on a background
thread that overlaps the first chunk's decoding anyway; not worth 76 MB per model and
precision in the cache folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .backend import import_openvino
from .catalog import N_CHANNELS, SEGMENT_FRAMES, ModelSpec
from .ir import IR_XML, OUTPUTS

ov = import_openvino()

OV_PRECISION = {"fp32": "f32", "bf16": "bf16"}


class OpenVINOModel:
    """A compiled IR that turns magnitude segments into ratio masks (or the U-Nets' estimates)."""

    def __init__(self, spec: ModelSpec, directory: Path, precision: str = "fp32", threads: int | None = None) -> None:
        """``threads``: OpenVINO's inference threads (None: one per core, its default)."""
        self.spec = spec
        core = ov.Core()
        model = core.read_model(directory / IR_XML)
        model.reshape({0: [1, SEGMENT_FRAMES, spec.bins, N_CHANNELS]})
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": OV_PRECISION[precision],
            # One stream with every core: the batcher runs one call at a time. The file stages
            # (decode, STFT, encode) run on other threads between and beside the calls; on 2 cores
            # that split measured faster than leaving a core to them (README, Performance).
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._outputs = [self._compiled.output(name) for name in OUTPUTS]

    def masks(self, magnitudes: np.ndarray) -> np.ndarray:
        """(batch, 512, F, 2) float32 magnitudes -> (n_instruments, batch, 512, F, 2) masks."""
        return self._infer(magnitudes, self._outputs[0])

    def estimates(self, magnitudes: np.ndarray) -> np.ndarray:
        """The U-Nets' magnitude estimates, same shapes as ``masks`` (for Wiener filtering)."""
        return self._infer(magnitudes, self._outputs[1])

    def _infer(self, magnitudes: np.ndarray, output: Any) -> np.ndarray:
        result = np.empty((self.spec.stems, *magnitudes.shape), np.float32)
        for index in range(len(magnitudes)):
            segment = np.ascontiguousarray(magnitudes[index : index + 1], np.float32)
            # share_outputs: the request's own buffers, valid until the next call: copied out at once
            result[:, index : index + 1] = self._request.infer({0: segment}, share_outputs=True)[output]
        return result


def load_openvino_model(spec: ModelSpec, directory: Path, precision: str, threads: int | None = None) -> OpenVINOModel:
    """Read and compile the IR, turning OpenVINO's failure into a ModelError the store can act on (rebuild)."""
    try:
        return OpenVINOModel(spec, directory, precision, threads)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(
            f"the OpenVINO model of {spec.full_name} cannot be loaded: {first}",
            hint=f"run `spl models verify {spec.name}` to rebuild it",
            path=directory,
        ) from None
