"""Names and shapes of the variables in an official Spleeter checkpoint.

Spleeter's TF1 Keras layers were named by creation order, with one counter per
layer type across the whole graph: instrument ``i``'s U-Net owns ``conv2d_{7i..7i+6}``,
``conv2d_transpose_{6i..6i+5}`` and ``batch_normalization_{12i..12i+11}``. The
loader, the store's layout check and the tests' checkpoint writer all read this
one description.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import N_CHANNELS, ModelSpec

ENCODER_FILTERS = (16, 32, 64, 128, 256, 512)
DECODER_FILTERS = (256, 128, 64, 32, 16, 1)
KERNEL = 5
CONVS_PER_UNET = 7  # six strided encoder convs and the final dilated mask conv
DECONVS_PER_UNET = 6
NORMS_PER_UNET = 12


def keras_name(kind: str, index: int) -> str:
    """TF1 Keras auto-name: ``conv2d``, ``conv2d_1``, ``conv2d_2``..."""
    return kind if index == 0 else f"{kind}_{index}"


@dataclass(frozen=True)
class UNetNames:
    """Checkpoint layer names of one instrument's U-Net, in build order."""

    encoder: tuple[str, ...]  # six strided convs
    encoder_norms: tuple[str, ...]
    decoder: tuple[str, ...]  # six transposed convs
    decoder_norms: tuple[str, ...]
    mask: str  # final 4x4 dilated conv


def unet_names(instrument_index: int) -> UNetNames:
    c, d, b = (instrument_index * n for n in (CONVS_PER_UNET, DECONVS_PER_UNET, NORMS_PER_UNET))
    return UNetNames(
        encoder=tuple(keras_name("conv2d", c + k) for k in range(6)),
        encoder_norms=tuple(keras_name("batch_normalization", b + k) for k in range(6)),
        decoder=tuple(keras_name("conv2d_transpose", d + k) for k in range(6)),
        decoder_norms=tuple(keras_name("batch_normalization", b + 6 + k) for k in range(6)),
        mask=keras_name("conv2d", c + 6),
    )


def _decoder_inputs() -> tuple[int, ...]:
    # The first deconv reads the bottleneck; later ones read [skip, previous deconv] (the last deconv feeds none).
    skips = ENCODER_FILTERS[-2::-1]  # 256, 128, 64, 32, 16
    return (ENCODER_FILTERS[-1], *(s + d for s, d in zip(skips, DECODER_FILTERS[:-1], strict=True)))


def expected_variables(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every variable the model's checkpoint must hold, with its shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(spec.stems):
        names = unet_names(i)
        cin = N_CHANNELS
        for name, norm, cout in zip(names.encoder, names.encoder_norms, ENCODER_FILTERS, strict=True):
            shapes[f"{name}/kernel"] = (KERNEL, KERNEL, cin, cout)
            shapes[f"{name}/bias"] = (cout,)
            shapes.update(_norm(norm, cout))
            cin = cout
        for name, norm, cin, cout in zip(names.decoder, names.decoder_norms, _decoder_inputs(), DECODER_FILTERS, strict=True):
            shapes[f"{name}/kernel"] = (KERNEL, KERNEL, cout, cin)  # transposed: (h, w, out, in)
            shapes[f"{name}/bias"] = (cout,)
            shapes.update(_norm(norm, cout))
        shapes[f"{names.mask}/kernel"] = (4, 4, 1, N_CHANNELS)
        shapes[f"{names.mask}/bias"] = (N_CHANNELS,)
    return shapes


def _norm(name: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}/{v}": (channels,) for v in ("gamma", "beta", "moving_mean", "moving_variance")}
