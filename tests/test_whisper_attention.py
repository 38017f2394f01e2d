"""WhisperAttention: recomputed probabilities survive XLA's optimizations; LoRA
adapts the chosen column blocks of the fused kernels alone."""

import re

import numpy as np
import pytest
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


@pytest.mark.parametrize("cross_attention", [False, True])
def test_lora_adapts_only_the_chosen_projections_columns(cross_attention):
    hidden = 8
    inputs = tf.random.stateless_normal((1, 3, hidden), seed=(0, 2))
    layer = WhisperAttention(2, cross_attention=cross_attention)
    layer.build(inputs.shape)
    layer.enable_lora(2, lora_alpha=4, projections=("query", "value"))
    before = {name: getattr(layer, name).numpy() for name in layer.kernel_projections}
    for name in ("query", "value"):
        getattr(layer, f"lora_{name}_b").assign(np.ones((2, hidden), "float32"))
    for name, projections in layer.kernel_projections.items():
        delta = np.asarray(layer.merged_kernel(name)) - before[name]
        for index, projection in enumerate(projections):
            block = delta[:, index * hidden : (index + 1) * hidden]
            a = getattr(layer, f"lora_{projection}_a", None)
            # alpha / rank = 2: b's all-ones rows sum each row of a, twice.
            expected = 0 if a is None else 2 * np.sum(a.numpy(), axis=1, keepdims=True)
            np.testing.assert_allclose(block, np.broadcast_to(expected, block.shape), atol=1e-6)
    assert [v.name for v in layer.trainable_variables] == [
        "query_bias", "value_bias", "output_bias",
        "lora_query_a", "lora_query_b", "lora_value_a", "lora_value_b",
    ]  # fmt: skip
