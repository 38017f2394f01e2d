"""The transformer stack through its two subclasses, the encoder and the decoder."""

import numpy as np
from layer_checks import check_layer

from whisper.whisper_decoder import WhisperDecoder
from whisper.whisper_encoder import WhisperEncoder

STACK = {"num_layers": 2, "num_heads": 2, "hidden_dim": 8, "intermediate_dim": 16}
FEATURES = np.random.default_rng(0).normal(size=(2, 20, 80)).astype("float32")
TOKENS = np.random.default_rng(1).integers(0, 100, (2, 4)).astype("int32")
ENCODED = np.random.default_rng(2).normal(size=(2, 10, 8)).astype("float32")


def test_the_encoder_passes_keras_hubs_layer_checks():
    # Two convolutions (4), two layers (13 each), the final norm (2); the
    # sinusoid table is stored but not trained.
    check_layer(
        WhisperEncoder,
        {**STACK, "max_sequence_length": 20, "dropout": 0.1},
        [FEATURES],
        output_shape=(2, 10, 8),
        trainable=32,
        non_trainable=1,
    )


def test_the_decoder_passes_keras_hubs_layer_checks():
    # Token and position embeddings (2), two layers (21 each), the final norm (2).
    check_layer(
        WhisperDecoder,
        {"vocabulary_size": 100, **STACK, "max_sequence_length": 12, "dropout": 0.1},
        [TOKENS, ENCODED],
        output_shape=(2, 4, 8),
        trainable=46,
    )


def test_the_encoder_accepts_fewer_frames_than_its_maximum():
    encoder = WhisperEncoder(**STACK, max_sequence_length=20)
    assert encoder(FEATURES[:, :7]).shape == (2, 4, 8)
