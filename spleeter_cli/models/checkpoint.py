"""Check that a checkpoint on disk really is the model it claims to be.

Checksums prove files arrived intact; only the variable names and shapes prove an
imported folder holds, say, 4stems weights and not 2stems ones. Reading them needs
TensorFlow, so it is imported here, on demand, and never by the store's cheap paths.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from .catalog import ModelSpec
from .layout import expected_variables

SHOWN = 4  # variable names quoted in an error before summarising the rest
LAYER_VARIABLES = frozenset({"kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"})


def checkpoint_prefix(directory: Path) -> Path:
    return directory / "model"


def read_variable_shapes(prefix: Path) -> dict[str, tuple[int, ...]]:
    from .quiet_tf import import_quietly

    import_quietly()
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    return {name: tuple(shape) for name, shape in reader.get_variable_to_shape_map().items()}


def check_layout(spec: ModelSpec, directory: Path, shown_as: Path | None = None) -> None:
    """Raise :class:`ModelError` unless ``directory`` holds every variable of ``spec`` with its shape.

    Extra variables (``global_step``, optimizer slots) are ignored: they do not affect inference.
    Errors name ``shown_as`` when given: an import checks a temporary copy, but the user
    knows the files by the path they gave.
    """
    from .quiet_tf import import_quietly

    import_quietly()
    import tensorflow as tf

    where = shown_as if shown_as is not None else directory

    try:
        found = read_variable_shapes(checkpoint_prefix(directory))
    except (tf.errors.OpError, ValueError) as error:
        raise ModelError(f"cannot read the checkpoint: {_first_line(error)}", path=where) from error
    expected = expected_variables(spec)
    missing = [name for name in expected if name not in found]
    wrong = [f"{name} is {found[name]} not {shape}" for name, shape in expected.items() if name in found and found[name] != shape]
    # a model with more instruments holds this one's variables and more: 5stems passed as 2stems would load
    extra = sorted(name for name in found if name not in expected and _is_layer_variable(name))
    problems = [
        text for text in (_summary("missing", missing), _summary("wrong shape", wrong), _summary("more than this model has", extra)) if text
    ]
    if problems:
        raise ModelError(
            f"not a {spec.full_name} checkpoint: {'; '.join(problems)}",
            hint=f"check that these are the official {spec.archive_name} files, or give the right model name",
            path=where,
        )


def _is_layer_variable(name: str) -> bool:
    """``layer/kernel`` and the like; not ``global_step`` or optimizer slots (``layer/kernel/Adam``)."""
    parts = name.split("/")
    return len(parts) == 2 and parts[1] in LAYER_VARIABLES


def _summary(label: str, items: list[str]) -> str:
    if not items:
        return ""
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"{len(items)} variable(s) {label} ({', '.join(items[:SHOWN])}{more})"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
