import numpy as np
from layer_checks import check_layer

from whisper.whisper_encoder_layer import WhisperEncoderLayer

HIDDEN = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")


def test_the_layer_passes_keras_hubs_layer_checks():
    # Two norms (2 each); attention's fused query-key-value kernel, query and
    # value biases (the key has none), output kernel and bias (5); two
    # feedforward denses (4).
    check_layer(
        WhisperEncoderLayer,
        {"num_heads": 2, "intermediate_dim": 16, "dropout": 0.1},
        [HIDDEN],
        output_shape=(2, 5, 8),
        trainable=13,
    )


def test_positions_attend_to_each_other_both_ways():
    layer = WhisperEncoderLayer(num_heads=2, intermediate_dim=16)
    changed = HIDDEN.copy()
    changed[:, -1] = changed[:, 0]  # another vector, not a shift or scale the norm removes
    before, after = np.asarray(layer(HIDDEN)), np.asarray(layer(changed))
    assert not np.allclose(before[:, 0], after[:, 0])  # not causal
