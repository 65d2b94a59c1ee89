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

from ..errors import ModelError
from .backend import import_openvino
from .catalog import ModelSpec

IR_XML = "openvino.xml"
IR_BIN = "openvino.bin"
IR_FILES = (IR_XML, IR_BIN)
OUTPUTS = ("masks", "estimates")  # the IR's output tensors, in this order


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
        for output, name in zip(converted.outputs, OUTPUTS):
            output.get_tensor().set_names({name})
        ov.save_model(converted, str(directory / IR_XML), compress_to_fp16=False)
    except (RuntimeError, ValueError, OSError) as error:  # OpenVINO reports conversion failures as RuntimeError
        for name in IR_FILES:
            (directory / name).unlink(missing_ok=True)
        raise ModelError(
            f"cannot build the OpenVINO model of {spec.full_name}: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}",
            hint="use --backend tensorflow, or reinstall OpenVINO",
            path=directory,
        ) from error

