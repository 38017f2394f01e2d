"""WhisperAttention's recomputed probabilities survive XLA's optimizations."""

import re

import tensorflow as tf

from whisper.whisper_attention import WhisperAttention


def compiled_gradient_ops(recompute_probabilities):
    """How many matmuls and exponentials XLA keeps in one attention's gradient."""
    inputs = tf.random.stateless_normal((2, 300, 64), seed=(0, 1))
    layer = WhisperAttention(4, name="attention")
    layer(inputs)
    layer.recompute_probabilities = recompute_probabilities

    @tf.function(jit_compile=True)
    def gradients(inputs):
        with tf.GradientTape() as tape:
            outputs = layer(inputs, training=True)
            loss = tf.reduce_sum(outputs * outputs)
        return tape.gradient(loss, layer.trainable_variables)

    hlo = gradients.experimental_get_compiler_ir(inputs)(stage="optimized_hlo")
    return len(re.findall(r" dot\(", hlo)), len(re.findall(r" exponential\(", hlo))


def test_the_backward_pass_recomputes_the_scores_and_softmax_when_asked():
    # Had XLA merged the recomputation with the forward pass (common
    # subexpressions), trainer.rematerialize=attention would save nothing.
    kept_dots, kept_exponentials = compiled_gradient_ops(False)
    dots, exponentials = compiled_gradient_ops(True)
    assert (dots, exponentials) == (kept_dots + 1, kept_exponentials + 1)
