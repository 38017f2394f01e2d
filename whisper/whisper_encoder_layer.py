"""One pre-norm Whisper encoder layer: self-attention, then feedforward."""

import keras

from whisper.layer_utils import dense
from whisper.layer_utils import layer_norm
from whisper.whisper_attention import WhisperAttention


@keras.saving.register_keras_serializable(package="whisper")
class WhisperEncoderLayer(keras.layers.Layer):
    """A pre-norm transformer layer with exact-GELU feedforward.

    Args:
        num_heads: int. Number of attention heads.
        intermediate_dim: int. Width of the feedforward's hidden layer.
        dropout: float. Dropout on attention probabilities and on each
            residual branch.

    Example:

    ```python
    import numpy as np
    from whisper.whisper_encoder_layer import WhisperEncoderLayer

    layer = WhisperEncoderLayer(num_heads=2, intermediate_dim=16)
    outputs = layer(np.ones((1, 5, 8), "float32"))  # (1, 5, 8)
    ```
    """

    def __init__(self, num_heads, intermediate_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.self_attention_layer_norm = self._layer_norm("self_attention_layer_norm")
        self.self_attention = WhisperAttention(
            num_heads, dropout=dropout, dtype=self.dtype_policy, name="self_attention"
        )
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        self.feedforward_layer_norm = self._layer_norm("feedforward_layer_norm")
        self.feedforward_intermediate_dense = self._dense(
            intermediate_dim, "feedforward_intermediate_dense"
        )
        self.feedforward_output_dense = None
        self.feedforward_dropout = self._dropout("feedforward_dropout")

    @classmethod
    def stack(cls, num_layers, num_heads, intermediate_dim, dropout, dtype_policy):
        """`num_layers` layers named layer_0, layer_1, ..."""
        return [
            cls(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                dtype=dtype_policy,
                name=f"layer_{index}",
            )
            for index in range(num_layers)
        ]

    def _layer_norm(self, name):
        return layer_norm(self.dtype_policy, name)

    def _dropout(self, name):
        return keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name=name)

    def _dense(self, units, name):
        return dense(units, self.dtype_policy, name)

    @property
    def attention_layers(self):
        return (self.self_attention,)

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        self.feedforward_output_dense = self._dense(hidden_dim, "feedforward_output_dense")
        self.self_attention_layer_norm.build(input_shape)
        self.self_attention.build(input_shape)
        self._build_feedforward(input_shape)

    def _build_feedforward(self, input_shape):
        self.feedforward_layer_norm.build(input_shape)
        self.feedforward_intermediate_dense.build(input_shape)
        self.feedforward_output_dense.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))

    def call(self, inputs, training=None):
        x = self._self_attention_block(inputs, training=training)
        return self._feedforward_block(x, training=training)

    def _self_attention_block(self, x, training, **attention_kwargs):
        """Returns `x` plus attention over it, and the cache if one was given."""
        attended = self.self_attention(
            self.self_attention_layer_norm(x), training=training, **attention_kwargs
        )
        cache = None
        if isinstance(attended, tuple):
            attended, cache = attended
        x = x + self.self_attention_dropout(attended, training=training)
        return (x, cache) if cache is not None else x

    def _feedforward_block(self, x, training):
        hidden = self.feedforward_intermediate_dense(self.feedforward_layer_norm(x))
        hidden = keras.activations.gelu(hidden, approximate=False)
        outputs = self.feedforward_output_dense(hidden)
        return x + self.feedforward_dropout(outputs, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
            }
        )
        return config
