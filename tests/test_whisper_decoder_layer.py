import keras
import numpy as np
from layer_checks import check_layer

from whisper.whisper_decoder_layer import WhisperDecoderLayer

RNG = np.random.default_rng(0)
HIDDEN = RNG.normal(size=(2, 4, 8)).astype("float32")
ENCODED = RNG.normal(size=(2, 6, 8)).astype("float32")


@keras.saving.register_keras_serializable(package="tests")
class DecoderLayerOnEncoded(WhisperDecoderLayer):
    """The layer with the encoder's output as its second positional input,
    the form the shared checks call."""

    def call(self, inputs, encoder_sequence, training=None):
        return super().call(inputs, encoder_sequence=encoder_sequence, training=training)


def test_the_layer_passes_keras_hubs_layer_checks():
    # The encoder layer's 13, plus a norm (2) and cross-attention (6: its
    # key and value kernels fused).
    check_layer(
        DecoderLayerOnEncoded,
        {"num_heads": 2, "intermediate_dim": 16, "dropout": 0.1},
        [HIDDEN, ENCODED],
        output_shape=(2, 4, 8),
        trainable=21,
    )


def test_the_encoder_output_changes_every_position():
    layer = WhisperDecoderLayer(num_heads=2, intermediate_dim=16)
    before = np.asarray(layer(HIDDEN, encoder_sequence=ENCODED))
    after = np.asarray(layer(HIDDEN, encoder_sequence=ENCODED[::-1]))
    assert not np.isclose(before, after).all(axis=-1).any()
