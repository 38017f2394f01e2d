"""One pre-norm Whisper decoder layer: causal self-attention, cross-attention, feedforward."""

import keras

from whisper.whisper_attention import WhisperAttention
from whisper.whisper_encoder_layer import WhisperEncoderLayer


@keras.saving.register_keras_serializable(package="whisper")
class WhisperDecoderLayer(WhisperEncoderLayer):
    """A Whisper encoder layer with cross-attention to the encoder's output.

    Args:
        num_heads: int. Number of attention heads.
        intermediate_dim: int. Width of the feedforward's hidden layer.
        dropout: float. Dropout on attention probabilities and on each
            residual branch.

    Example:

    ```python
    import numpy as np
    from whisper.whisper_decoder_layer import WhisperDecoderLayer

    layer = WhisperDecoderLayer(num_heads=2, intermediate_dim=16)
    outputs = layer(
        np.ones((1, 4, 8), "float32"), encoder_sequence=np.ones((1, 6, 8), "float32")
    )  # (1, 4, 8)
    ```
    """

    def __init__(self, num_heads, intermediate_dim, dropout=0.0, **kwargs):
        super().__init__(num_heads, intermediate_dim, dropout=dropout, **kwargs)
        self.cross_attention_layer_norm = self._layer_norm("cross_attention_layer_norm")
        self.cross_attention = WhisperAttention(
            num_heads,
            cross_attention=True,
            dropout=dropout,
            dtype=self.dtype_policy,
            name="cross_attention",
        )
        self.cross_attention_dropout = self._dropout("cross_attention_dropout")

    @property
    def attention_layers(self):
        return (self.self_attention, self.cross_attention)

    def build(self, input_shape):
        super().build(input_shape)
        self.cross_attention_layer_norm.build(input_shape)
        self.cross_attention.build(input_shape)

    def call(
        self,
        inputs,
        encoder_sequence=None,
        self_attention_mask=None,
        cross_key_value=None,
        self_attention_cache=None,
        cache_index=None,
        training=None,
    ):
        """Decodes `inputs` (batch, length, hidden).

        Args:
            encoder_sequence: the encoder's output; not needed when
                `cross_key_value` (from `cross_attention.compute_key_value`)
                is given.
            self_attention_mask: bool (batch, 1, length, keys), True where allowed.
            self_attention_cache: (batch, 2, heads, max_length, head_dim). When
                given, `inputs` are the tokens at `cache_index` onwards and the
                layer returns `(outputs, updated_cache)`.
        """
        cache_kwargs = {}
        if self_attention_cache is not None:
            cache_kwargs = {"cache": self_attention_cache, "cache_index": cache_index}
        x = self._self_attention_block(
            inputs, training, attention_mask=self_attention_mask, **cache_kwargs
        )
        cache = None
        if self_attention_cache is not None:
            x, cache = x
        if cross_key_value is None:
            cross_key_value = self.cross_attention.compute_key_value(encoder_sequence)
        attended = self.cross_attention(
            self.cross_attention_layer_norm(x),
            key_value=cross_key_value,
            training=training,
        )
        x = x + self.cross_attention_dropout(attended, training=training)
        x = self._feedforward_block(x, training)
        return (x, cache) if cache is not None else x
