"""The Spleeter U-Nets as a Keras 3 model, loaded from an official checkpoint.

One U-Net per instrument reads the magnitude spectrogram of a 512-frame
segment and estimates that instrument's magnitude. Layers carry the names the
TF1 checkpoint uses (see ``layout``), so loading is a lookup by name. The
separation masks are computed in the same compiled function, so one call per
batch of segments returns everything the separator needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from .catalog import EPSILON, N_CHANNELS, SEGMENT_FRAMES, SEPARATION_EXPONENT, ModelSpec
from .layout import DECODER_FILTERS, ENCODER_FILTERS, KERNEL, unet_names
from .quiet_tf import import_quietly

import_quietly()
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

BN_EPSILON = 1e-3  # TF1 Keras BatchNormalization default, which the checkpoints were trained with
DROPOUT_LAYERS = 3  # decoder stages that had dropout (identity at inference)


def _activation(kind: str) -> keras.layers.Layer:
    if kind == "ELU":
        return keras.layers.ELU()
    if kind == "LeakyReLU":
        return keras.layers.LeakyReLU(negative_slope=0.2)
    return keras.layers.ReLU()


def _unet(spectrogram: keras.KerasTensor, spec: ModelSpec, index: int) -> keras.KerasTensor:
    """One instrument's U-Net; returns mask logits (sigmoid/softmax applied by the caller)."""
    names = unet_names(index)
    skips = []
    x = spectrogram
    for filters, conv_name, norm_name in zip(ENCODER_FILTERS, names.encoder, names.encoder_norms, strict=True):
        conv = keras.layers.Conv2D(filters, KERNEL, strides=2, padding="same", name=conv_name)(x)
        skips.append(conv)
        norm = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=norm_name)(conv)
        x = _activation(spec.conv_activation)(norm)
    # Spleeter feeds the raw bottleneck conv (not its activation) to the decoder.
    x = skips.pop()
    for filters, deconv_name, norm_name in zip(DECODER_FILTERS, names.decoder, names.decoder_norms, strict=True):
        up = keras.layers.Conv2DTranspose(filters, KERNEL, strides=2, padding="same", name=deconv_name)(x)
        up = _activation(spec.deconv_activation)(up)
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=norm_name)(up)
        if skips:
            x = keras.layers.Concatenate(axis=-1)([skips.pop(), x])
    return keras.layers.Conv2D(N_CHANNELS, 4, dilation_rate=2, padding="same", name=names.mask)(x)


def build_model(spec: ModelSpec) -> keras.Model:
    """All instruments' U-Nets over one input: (batch, 512, F, 2) -> (n, batch, 512, F, 2) estimates."""
    spectrogram = keras.Input((SEGMENT_FRAMES, spec.bins, N_CHANNELS), name="mix_spectrogram")
    logits = [_unet(spectrogram, spec, i) for i in range(spec.stems)]
    stacked = keras.ops.stack(logits, axis=0)
    masks = keras.ops.softmax(stacked, axis=0) if spec.softmax_masks else keras.ops.sigmoid(stacked)
    estimates = masks * keras.ops.expand_dims(spectrogram, 0)
    return keras.Model(spectrogram, estimates, name=spec.name.replace("-", "_"))


def load_checkpoint(model: keras.Model, prefix: Path) -> None:
    """Copy every layer's weights from the checkpoint variables of the same name."""
    reader = tf.train.load_checkpoint(str(prefix))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            fields: tuple[str, ...] = ("gamma", "beta", "moving_mean", "moving_variance")
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            fields = ("kernel", "bias")
        else:
            continue
        layer.set_weights([reader.get_tensor(f"{layer.name}/{field}") for field in fields])


class SpleeterModel:
    """A loaded model that turns magnitude segments into ratio masks."""

    def __init__(self, spec: ModelSpec, checkpoint_prefix: Path) -> None:
        self.spec = spec
        self._model = build_model(spec)
        load_checkpoint(self._model, checkpoint_prefix)
        signature = tf.TensorSpec((None, SEGMENT_FRAMES, spec.bins, N_CHANNELS), tf.float32)
        self._masks = tf.function(self._compute_masks, input_signature=[signature], autograph=False)
        self._masks.get_concrete_function()  # trace now, while the loader thread overlaps decoding
        self._estimates = tf.function(lambda x: self._model(x, training=False), input_signature=[signature], autograph=False)

    def _compute_masks(self, magnitudes: tf.Tensor) -> tf.Tensor:
        return self._masks_and_estimates(magnitudes)[0]

    def _masks_and_estimates(self, magnitudes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Spleeter's ratio masks ``(s_i^p + eps/n) / (sum_j s_j^p + eps)``, and the estimates they come from."""
        estimates = self._model(magnitudes, training=False)
        powered = estimates**SEPARATION_EXPONENT
        total = tf.reduce_sum(powered, axis=0) + EPSILON
        return (powered + EPSILON / self.spec.stems) / total, estimates

    def export_function(self) -> tf.types.experimental.GenericFunction:
        """Masks and estimates in one traced graph: what OpenVINO's converter turns into the IR (``models/ir.py``)."""
        signature = tf.TensorSpec((None, SEGMENT_FRAMES, self.spec.bins, N_CHANNELS), tf.float32)
        return tf.function(self._masks_and_estimates, input_signature=[signature], autograph=False)

    def masks(self, magnitudes: np.ndarray) -> np.ndarray:
        """(batch, 512, F, 2) float32 magnitudes -> (n_instruments, batch, 512, F, 2) masks."""
        return self._masks(tf.convert_to_tensor(magnitudes, tf.float32)).numpy()

    def estimates(self, magnitudes: np.ndarray) -> np.ndarray:
        """The U-Nets' magnitude estimates, same shapes as ``masks`` (for Wiener filtering)."""
        return self._estimates(tf.convert_to_tensor(magnitudes, tf.float32)).numpy()


def load_model(spec: ModelSpec, checkpoint_prefix: Path) -> SpleeterModel:
    """Build and load, turning a damaged checkpoint into a ModelError the user can act on."""
    try:
        return SpleeterModel(spec, checkpoint_prefix)
    except (tf.errors.OpError, ValueError, OSError) as error:
        raise ModelError(
            f"model {spec.full_name} at {checkpoint_prefix.parent} cannot be loaded: {str(error).splitlines()[0]}",
            hint=f"reinstall it with `spl models download {spec.name} --force`",
        ) from None
