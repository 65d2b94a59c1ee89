"""OpenVINO's copy of a model: built once from the official checkpoint, kept beside it.

The IR (``openvino.xml`` + ``openvino.bin``) is TensorFlow's traced masks-and-estimates
graph (``unet.SpleeterModel.export_function``) as OpenVINO's converter writes it, in
fp32. Building it is the only moment the OpenVINO path needs TensorFlow; afterwards a
run reads the IR in a tenth of a second. The store builds it inside the same lock and
atomic rename as the checkpoint and records its checksums and the OpenVINO release in
the manifest, because an IR is only trusted by the release that wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from .backend import import_openvino
from .catalog import ModelSpec

if TYPE_CHECKING:  # the store reads this module's names on paths that must not load NumPy (spl models list)
    import numpy as np

IR_XML = "openvino.xml"
IR_BIN = "openvino.bin"
IR_FILES = (IR_XML, IR_BIN)
OUTPUTS = ("masks", "estimates")  # the IR's output tensors, in this order
# How the IR is made from the checkpoint; recorded in the manifest, so a new recipe rebuilds older IRs.
# 1: the converted graph. 2: each U-Net's last deconvolution as four phase convolutions.
RECIPE = 2


def build_ir(spec: ModelSpec, directory: Path) -> None:
    """Convert the checkpoint in ``directory`` into ``directory/openvino.{xml,bin}``.

    Weights stay fp32 (``compress_to_fp16=False``): OpenVINO would otherwise halve them
    on disk, and the stems would no longer equal Spleeter's.
    """
    from .checkpoint import checkpoint_prefix
    from .unet import load_model

    keras_model = load_model(spec, checkpoint_prefix(directory))
    ov = import_openvino()
    try:
        converted = ov.convert_model(keras_model.export_function())
        _phase_split_single_channel_deconvolutions(converted)
        for output, name in zip(converted.outputs, OUTPUTS, strict=True):
            output.get_tensor().set_names({name})
        ov.save_model(converted, str(directory / IR_XML), compress_to_fp16=False)
    except (RuntimeError, ValueError, OSError) as error:  # OpenVINO reports conversion failures as RuntimeError
        for name in IR_FILES:
            (directory / name).unlink(missing_ok=True)
        raise ModelError(
            f"cannot build the OpenVINO model of {spec.full_name}: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}",
            hint="use `backend` tensorflow, or reinstall OpenVINO",
            path=directory,
        ) from error


# Which 5x5 kernel tap feeds output row (or column) 2m + phase from input m + offset, for a
# stride-2 transposed convolution padded like TensorFlow's "same" (1 before, 2 after):
# output[i] = sum of input[j] * w[k] over i = 2j + k - 1.
_PHASE_TAPS = ({0: 1, -1: 3}, {1: 0, 0: 2, -1: 4})  # phase -> {offset: tap}


def _phase_split_single_channel_deconvolutions(model: Any) -> None:
    """Rewrite each U-Net's last transposed convolution (32 channels in, 1 out) as four phase convolutions.

    OpenVINO's CPU kernels vectorise over output channels, so with one output channel that
    layer ran at a seventh of the speed of the others: 16.6 ms of the 157 ms a 2stems segment
    took (2 cores, fp32). The same sums as one 3x3 convolution with four output channels (one
    per output phase, unused taps zero) followed by depth-to-space cost 136 ms in all. The
    stems stay within float rounding of TensorFlow's (tests/test_backends.py).
    """
    from openvino import opset13 as ops

    for op in model.get_ordered_ops():
        if op.get_type_name() != "ConvolutionBackpropData" or not _is_spleeter_deconvolution(op, out_channels=1):
            continue
        weights = op.input_value(1).get_node().get_data()  # [in channels, 1, 5, 5]
        phases = ops.convolution(op.input_value(0), ops.constant(_phase_kernels(weights)), [1, 1], [1, 1], [1, 1], [1, 1])
        op.output(0).replace(ops.depth_to_space(phases, "blocks_first", 2).output(0))
    model.validate_nodes_and_infer_types()


def _is_spleeter_deconvolution(op: Any, out_channels: int) -> bool:
    """Stride 2, 5x5, TensorFlow's "same" padding and ``out_channels`` outputs: the layer the rewrite assumes."""
    attributes = op.get_attributes()
    weights = op.input_value(1).get_node()
    return (
        weights.get_type_name() == "Constant"
        and tuple(weights.get_output_shape(0))[1:] == (out_channels, 5, 5)
        and list(attributes["strides"]) == [2, 2]
        and list(attributes["dilations"]) == [1, 1]
        and list(attributes["pads_begin"]) == [1, 1]
        and list(attributes["pads_end"]) == [2, 2]
        and list(attributes["output_padding"]) == [0, 0]
    )


def _phase_kernels(weights: np.ndarray) -> np.ndarray:
    """[in, 1, 5, 5] transposed-convolution weights -> [4, in, 3, 3] convolution weights, phase (row, column) = 2 * row + column."""
    import numpy as np

    kernels = np.zeros((4, weights.shape[0], 3, 3), np.float32)
    for row in (0, 1):
        for column in (0, 1):
            for dy, ky in _PHASE_TAPS[row].items():
                for dx, kx in _PHASE_TAPS[column].items():
                    kernels[2 * row + column, :, dy + 1, dx + 1] = weights[:, 0, ky, kx]
    return kernels
