"""keras_hub's checks of a layer (its `run_layer_test`), applied to ours.

`check_layer` builds a layer from its arguments and checks that it gives
the expected output shape and weight counts; that `get_config` round-trips
to a layer with the same outputs, through Keras's own serialization too;
that it trains (a gradient for every trainable weight); and that under
`mixed_float16` its variables stay float32, its outputs come in float16 and
stay finite.
"""

import keras
import numpy as np
import tensorflow as tf


def check_layer(layer_class, arguments, inputs, *, output_shape, trainable, non_trainable=0):
    """`inputs`: the positional inputs of one call, as NumPy arrays."""
    layer = layer_class(**arguments)
    outputs = np.asarray(layer(*inputs))
    assert outputs.shape == output_shape
    assert len(layer.trainable_weights) == trainable
    assert len(layer.non_trainable_weights) == non_trainable

    restored = layer_class.from_config(layer.get_config())
    restored(*inputs)
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(restored(*inputs)), outputs, atol=1e-6)
    config = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(config)
    assert type(revived) is layer_class and revived.get_config() == layer.get_config()

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(*inputs, training=True)))
    gradients = tape.gradient(loss, layer.trainable_weights)
    assert all(gradient is not None for gradient in gradients)

    mixed = layer_class(**arguments, dtype="mixed_float16")
    mixed_outputs = mixed(*inputs)
    assert mixed_outputs.dtype == "float16"
    assert np.isfinite(np.asarray(mixed_outputs, "float32")).all()
    assert {variable.dtype for variable in mixed.weights} == {"float32"}
