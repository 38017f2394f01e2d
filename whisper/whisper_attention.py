"""Multi-head attention for Whisper, with fused projections and a decoding cache."""

import keras
from keras import ops

from whisper.layer_utils import whisper_kernel_initializer

# The score of masked positions; the constant Keras's Softmax uses, so fully
# masked rows behave as they do in keras_hub.
MASKED_SCORE = -1e9
# The projections `enable_lora` can adapt (transformers' q_proj, k_proj,
# v_proj and out_proj).
LORA_PROJECTIONS = ("query", "key", "value", "output")


@keras.saving.register_keras_serializable(package="whisper")
class WhisperAttention(keras.layers.Layer):
    """Whisper's multi-head attention: biased query and value, unbiased key.

    Self-attention (`cross_attention=False`) projects query, key and value with
    one fused `(hidden, 3 * hidden)` matmul. Cross-attention projects the query
    from the decoder and key and value from the encoder with one fused
    `(hidden, 2 * hidden)` matmul, which `compute_key_value` runs once per
    utterance so that decoding steps only project the query.

    `enable_lora(rank)` adds low-rank adapters, as Keras's
    `Dense.enable_lora` does: projection `p` of the kernels becomes
    `kernel_p + (lora_alpha / rank) * a_p @ b_p`, with one `(a, b)` pair per
    adapted projection ("query", "key", "value", "output"), so adapting the
    query and value changes only those column blocks of a fused kernel. `b`
    starts at zero, leaving the layer's outputs as they were, and the
    kernels stop training. `merged_kernel(name)` is a kernel with its
    adapters added, what the layer multiplies by and what exports save.

    Setting `recompute_probabilities` (a training choice, not part of the
    config) keeps only the projected queries, keys and values of training
    calls and recomputes the scores and probabilities, the largest
    activations of long sequences, in the backward pass.

    Args:
        num_heads: int. Number of attention heads.
        cross_attention: bool. Whether keys and values come from the encoder.
        dropout: float. Dropout on the attention probabilities.
        lora_rank: int or None. When set, `build` enables LoRA of this rank.
        lora_alpha: number or None. The adapters' scale is
            `lora_alpha / lora_rank`; None: `lora_rank` (a scale of 1).
        lora_projections: the projections `build` adapts; None: all of
            `LORA_PROJECTIONS`.

    Example:

    ```python
    import numpy as np
    from whisper.whisper_attention import WhisperAttention

    layer = WhisperAttention(num_heads=2)
    outputs = layer(np.ones((1, 5, 8), "float32"))  # (1, 5, 8)
    layer.enable_lora(4, projections=("query", "value"))
    [v.name for v in layer.trainable_variables]  # [..., "output_bias", "lora_query_a", ...]
    ```
    """

    def __init__(
        self,
        num_heads,
        cross_attention=False,
        dropout=0.0,
        lora_rank=None,
        lora_alpha=None,
        lora_projections=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.cross_attention = cross_attention
        self.dropout = dropout
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_projections = lora_projections
        self.lora_enabled = False
        self._probability_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="probability_dropout"
        )
        self.recompute_probabilities = False

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"hidden_dim {hidden_dim} must be divisible by num_heads {self.num_heads}."
            )
        self.hidden_dim = hidden_dim
        self.head_dim = hidden_dim // self.num_heads
        fused = 1 if self.cross_attention else 3
        self.query_kernel = self._kernel("query_kernel", fused * hidden_dim)
        if self.cross_attention:
            self.key_value_kernel = self._kernel("key_value_kernel", 2 * hidden_dim)
        self.query_bias = self._bias("query_bias")
        self.value_bias = self._bias("value_bias")
        self.output_kernel = self._kernel("output_kernel", hidden_dim)
        self.output_bias = self._bias("output_bias")
        if self.lora_rank:
            self.enable_lora(self.lora_rank, self.lora_alpha, self.lora_projections)

    @property
    def kernel_projections(self):
        """Each kernel's name and the projections side by side in its columns."""
        if self.cross_attention:
            return {
                "query_kernel": ("query",),
                "key_value_kernel": ("key", "value"),
                "output_kernel": ("output",),
            }
        return {"query_kernel": ("query", "key", "value"), "output_kernel": ("output",)}

    def enable_lora(
        self,
        rank,
        lora_alpha=None,
        projections=None,
        a_initializer="he_uniform",
        b_initializer="zeros",
    ):
        """Adds a trainable `(a, b)` pair to each of `projections` and freezes the kernels.

        Args:
            rank: int. The adapters' rank.
            lora_alpha: number or None. The adapters' scale is
                `lora_alpha / rank`; None: `rank`.
            projections: some of `LORA_PROJECTIONS`; None: all of them.
        """
        projections = tuple(projections or LORA_PROJECTIONS)
        if not self.built:
            raise ValueError("Cannot enable LoRA on a layer that isn't yet built.")
        if self.lora_enabled:
            raise ValueError("LoRA is already enabled. This can only be done once per layer.")
        unknown = sorted(set(projections) - set(LORA_PROJECTIONS))
        if unknown or not isinstance(rank, int) or rank < 1:
            raise ValueError(
                f"LoRA needs a positive int rank and projections among {LORA_PROJECTIONS}; "
                f"got rank={rank!r}, projections={projections!r}."
            )
        self._tracker.unlock()
        for projection in projections:
            # float32 whatever the policy, as Keras's Dense keeps its adapters:
            # small updates to them would underflow in (b)float16.
            for part, shape, initializer in (
                ("a", (self.hidden_dim, rank), a_initializer),
                ("b", (rank, self.hidden_dim), b_initializer),
            ):
                adapter = self.add_weight(
                    name=f"lora_{projection}_{part}",
                    shape=shape,
                    initializer=initializer,
                    dtype="float32",
                )
                setattr(self, f"lora_{projection}_{part}", adapter)
        self._tracker.lock()
        for name in self.kernel_projections:
            getattr(self, name).trainable = False
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank
        self.lora_projections = projections

    def merged_kernel(self, name):
        """Kernel `name` plus its adapters' `(alpha / rank) * a @ b` blocks.

        The variable itself when none of its projections is adapted. In a
        call the variables read in the compute dtype, elsewhere in their own.
        """
        kernel = getattr(self, name)
        projections = self.kernel_projections[name]
        if not self.lora_enabled or not set(projections) & set(self.lora_projections):
            return kernel
        scale = self.lora_alpha / self.lora_rank
        blocks = [
            scale * ops.matmul(self._adapter(projection, "a"), self._adapter(projection, "b"))
            if projection in self.lora_projections
            else ops.zeros((self.hidden_dim, self.hidden_dim), kernel.dtype)
            for projection in projections
        ]
        return kernel + ops.concatenate([ops.cast(b, kernel.dtype) for b in blocks], axis=-1)

    def _adapter(self, projection, part):
        return getattr(self, f"lora_{projection}_{part}")

    def _kernel_in_compute_dtype(self, name):
        return ops.cast(self.merged_kernel(name), self.compute_dtype)

    def _kernel(self, name, width):
        return self.add_weight(
            name=name,
            shape=(self.hidden_dim, width),
            initializer=whisper_kernel_initializer(),
        )

    def _bias(self, name):
        return self.add_weight(name=name, shape=(self.hidden_dim,), initializer="zeros")

    def call(
        self,
        inputs,
        attention_mask=None,
        key_value=None,
        cache=None,
        cache_index=None,
        training=None,
    ):
        """Attends from `inputs` (batch, length, hidden).

        Args:
            attention_mask: bool (batch, 1, length, keys), True where a key
                may be attended to. Boolean so that mixed precision never casts
                it (a float16 mask constant would overflow).
            key_value: cross-attention only: the result of `compute_key_value`.
            cache: self-attention only: (batch, 2, heads, max_length, head_dim)
                keys and values of earlier positions. `inputs` are written at
                `cache_index` and the updated cache is returned as well.
        """
        if self.cross_attention:
            query = self._project(
                inputs, self._kernel_in_compute_dtype("query_kernel"), self.query_bias
            )
            key, value = key_value[:, 0], key_value[:, 1]
        else:
            query, key, value = self._project_query_key_value(inputs)
            if cache is not None:
                cache = ops.slice_update(
                    cache,
                    [0, 0, 0, cache_index, 0],
                    ops.stack([key, value], axis=1),
                )
                key, value = cache[:, 0], cache[:, 1]
        outputs = self._attend(query, key, value, attention_mask, training)
        if cache is not None:
            return outputs, cache
        return outputs

    def compute_key_value(self, encoder_sequence):
        """Cross-attention keys and values, (batch, 2, heads, length, head_dim)."""
        encoder_sequence = ops.cast(encoder_sequence, self.compute_dtype)
        projected = ops.matmul(encoder_sequence, self._kernel_in_compute_dtype("key_value_kernel"))
        key, value = ops.split(projected, 2, axis=-1)
        value = value + self.value_bias
        return ops.stack([self._split_heads(key), self._split_heads(value)], axis=1)

    def _project_query_key_value(self, inputs):
        projected = ops.matmul(inputs, self._kernel_in_compute_dtype("query_kernel"))
        query, key, value = ops.split(projected, 3, axis=-1)
        query = query + self.query_bias
        value = value + self.value_bias
        return tuple(self._split_heads(x) for x in (query, key, value))

    def _project(self, inputs, kernel, bias):
        return self._split_heads(ops.matmul(inputs, kernel) + bias)

    def _split_heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def _attend(self, query, key, value, attention_mask, training):
        def mix_values(query, key, value):
            scale = ops.cast(self.head_dim**-0.5, query.dtype)
            scores = ops.matmul(query * scale, ops.transpose(key, (0, 1, 3, 2)))
            scores = ops.cast(scores, "float32")
            if attention_mask is not None:
                scores = ops.where(attention_mask, scores, MASKED_SCORE)
            probabilities = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
            probabilities = self._probability_dropout(probabilities, training=training)
            return ops.matmul(probabilities, value)

        if self.recompute_probabilities and training:
            mix_values = keras.remat(mix_values)
        context = mix_values(query, key, value)
        batch, length = ops.shape(context)[0], ops.shape(context)[2]
        context = ops.reshape(
            ops.transpose(context, (0, 2, 1, 3)), (batch, length, self.hidden_dim)
        )
        output_kernel = self._kernel_in_compute_dtype("output_kernel")
        return ops.matmul(context, output_kernel) + self.output_bias

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "cross_attention": self.cross_attention,
                "dropout": self.dropout,
                "lora_rank": self.lora_rank,
                "lora_alpha": self.lora_alpha,
                "lora_projections": self.lora_projections,
            }
        )
        return config
