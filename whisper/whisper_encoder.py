"""Whisper's audio encoder: two convolutions, positions, transformer layers."""

import keras
import numpy as np
from keras import ops

from whisper.layer_utils import whisper_kernel_initializer
from whisper.whisper_encoder_layer import WhisperEncoderLayer
from whisper.whisper_transformer_stack import WhisperTransformerStack


def sinusoid_table(length, channels):
    """OpenAI's fixed encoder positions: sines then cosines, log-spaced rates.

    OpenAI defines the table for even widths of at least 4. Narrower and odd
    widths, which only tests and toy models use, stay finite: one rate when
    there is one pair, and a last column of zeros when the width is odd.
    """
    half = channels // 2
    rates = np.exp(-np.log(10000.0) / max(half - 1, 1) * np.arange(half))
    angles = np.arange(length)[:, None] * rates[None, :]
    odd_column = np.zeros((length, channels - 2 * half))
    return np.concatenate([np.sin(angles), np.cos(angles), odd_column], axis=1).astype("float32")


@keras.saving.register_keras_serializable(package="whisper")
class WhisperEncoder(WhisperTransformerStack):
    """Maps log-mel features (batch, frames, mels) to (batch, ceil(frames / 2), hidden).

    A stride-1 and a stride-2 convolution with exact GELU, fixed sinusoidal
    positions (stored as a non-trainable table so that pretrained tables load
    unchanged), pre-norm transformer layers and a final layer norm. Inputs
    shorter than 30 s are allowed: the positions are sliced to the length.

    Args:
        num_layers: int. Number of transformer layers.
        num_heads: int. Attention heads per layer.
        hidden_dim: int. Width of the residual stream.
        intermediate_dim: int. Width of each feedforward's hidden layer.
        max_sequence_length: int. Most input frames; the position table has
            half as many rows.
        dropout: float. Dropout rate.

    Example:

    ```python
    import numpy as np
    from whisper.whisper_encoder import WhisperEncoder

    encoder = WhisperEncoder(2, 2, 8, 16, max_sequence_length=20)
    encoder(np.ones((1, 20, 80), "float32")).shape  # (1, 10, 8)
    ```
    """

    layer_class = WhisperEncoderLayer

    def create_embeddings(self):
        self.conv_1 = self._conv(1, "same", "conv_1")
        self.conv_2 = self._conv(2, "valid", "conv_2")

    def _conv(self, strides, padding, name):
        return keras.layers.Conv1D(
            self.hidden_dim,
            kernel_size=3,
            strides=strides,
            padding=padding,
            kernel_initializer=whisper_kernel_initializer(),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        num_mels = input_shape[-1]
        hidden_shape = (input_shape[0], None, self.hidden_dim)
        self.conv_1.build((input_shape[0], None, num_mels))
        self.conv_2.build(hidden_shape)
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(self.max_sequence_length // 2, self.hidden_dim),
            initializer=lambda shape, dtype: sinusoid_table(*shape),
            trainable=False,
        )
        self.build_stack(input_shape[0])

    def call(self, features, training=None):
        x = keras.activations.gelu(self.conv_1(features), approximate=False)
        # keras_hub and OpenAI pad time by one frame on each side, then run the
        # stride-2 convolution unpadded: ceil(frames / 2) outputs.
        x = ops.pad(x, [[0, 0], [1, 1], [0, 0]])
        x = keras.activations.gelu(self.conv_2(x), approximate=False)
        positions = self.position_embedding[: ops.shape(x)[1]]
        x = x + ops.cast(positions, x.dtype)
        x = self.embeddings_dropout(x, training=training)
        return self.final_norm(self.run_layers(x, training))

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        length = None if frames is None else (frames + 1) // 2
        return (input_shape[0], length, self.hidden_dim)
