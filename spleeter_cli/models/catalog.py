"""The official Spleeter models, described as data, and the ways spl can run them.

Every number here comes from the configuration files that ship with Deezer's
spleeter 2.4.2 (``spleeter/resources/*.json``); the U-Net and the separator are
built from these entries alone. A leaf module (it imports only ``errors``), so the
settings can check model, backend and precision names without loading a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ValidationError

SAMPLE_RATE = 44_100
FRAME_LENGTH = 4096
FRAME_STEP = 1024
SEGMENT_FRAMES = 512  # T: frames per U-Net input segment (about 11.9 s)
N_CHANNELS = 2
SEPARATION_EXPONENT = 2.0
EPSILON = 1e-10

BACKENDS = ("auto", "openvino", "tensorflow")  # chosen in backend.py
PRECISIONS = ("fp32", "bf16")
DEFAULT_PRECISION = "fp32"  # exact Spleeter output; bf16 is a measured trade (README, Precision)


@dataclass(frozen=True)
class ModelSpec:
    """One Spleeter model: its stems and the shape of its U-Nets."""

    name: str  # catalog name without the "spleeter:" prefix, e.g. "4stems-16kHz"
    instruments: tuple[str, ...]
    bins: int  # F: STFT bins the model sees; 1024 (11 kHz) or 1536 (16 kHz)
    conv_activation: str  # "LeakyReLU" | "ELU"
    deconv_activation: str  # "ReLU" | "ELU"
    softmax_masks: bool  # 5stems: one softmax across instruments instead of sigmoids
    size_mb: int  # approximate size of the checkpoint on disk

    @property
    def full_name(self) -> str:
        return f"spleeter:{self.name}"

    @property
    def stems(self) -> int:
        return len(self.instruments)

    @property
    def archive_name(self) -> str:
        """Name of the official release asset, without ``.tar.gz``."""
        return self.name


def _family(stems: str, instruments: tuple[str, ...], act: tuple[str, str], softmax: bool, mb: int):
    for suffix, bins in (("", 1024), ("-16kHz", 1536)):
        yield ModelSpec(f"{stems}{suffix}", instruments, bins, act[0], act[1], softmax, mb)


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        *_family("2stems", ("vocals", "accompaniment"), ("LeakyReLU", "ReLU"), False, 75),
        *_family("4stems", ("vocals", "drums", "bass", "other"), ("ELU", "ELU"), False, 150),
        *_family("5stems", ("vocals", "piano", "drums", "bass", "other"), ("ELU", "ELU"), True, 190),
    )
}

DEFAULT_MODEL = "spleeter:2stems"  # what `spl separate song.mp3` runs, unless models.default says otherwise


def get_spec(name: str) -> ModelSpec:
    """Look a model up by ``spleeter:4stems``, ``4stems`` or ``4stems-16kHz``."""
    key = name.removeprefix("spleeter:")
    spec = CATALOG.get(key) or next((s for s in CATALOG.values() if s.name.lower() == key.lower()), None)
    if spec is None:
        known = ", ".join(s.full_name for s in CATALOG.values())
        raise ValidationError(f"unknown model '{name}'", hint=f"choose one of: {known}", model=name)
    return spec


def model_for(stems: int, high_quality: bool = False) -> ModelSpec:
    """The model behind ``--stems N`` and ``--hq``."""
    if stems not in (2, 4, 5):
        raise ValidationError(f"--stems must be 2, 4 or 5, not {stems}")
    return CATALOG[f"{stems}stems" + ("-16kHz" if high_quality else "")]
