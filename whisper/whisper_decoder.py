"""Whisper's text decoder: token and position embeddings, transformer layers."""

import keras
from keras import ops

from whisper.layer_utils import whisper_kernel_initializer
from whisper.whisper_decoder_layer import WhisperDecoderLayer
from whisper.whisper_token_embedding import WhisperTokenEmbedding
from whisper.whisper_transformer_stack import WhisperTransformerStack


@keras.saving.register_keras_serializable(package="whisper")
class WhisperDecoder(WhisperTransformerStack):
    """Maps token ids and the encoder's output to (batch, length, hidden).

    Token plus learned position embeddings (unscaled), pre-norm decoder layers
    with causal self-attention and cross-attention, a final layer norm. The
    token embedding doubles as the language-model head (`logits`).

    Two ways to run it: `call` on whole sequences (training, scoring), and
    `call_with_cache` for incremental decoding, where each layer's
    cross-attention keys and values are computed once per utterance
    (`compute_cross_key_values`) and self-attention keys and values accumulate
    in a fixed-size cache so that shapes stay static under XLA.

    Args:
        vocabulary_size: int. Number of tokens.
        num_layers: int. Number of transformer layers.
        num_heads: int. Attention heads per layer.
        hidden_dim: int. Width of the residual stream.
        intermediate_dim: int. Width of each feedforward's hidden layer.
        max_sequence_length: int. Rows of the position embedding.
        dropout: float. Dropout rate.

    Example:

    ```python
    import numpy as np
    from whisper.whisper_decoder import WhisperDecoder

    decoder = WhisperDecoder(100, 2, 2, 8, 16, max_sequence_length=12)
    decoder(
        np.ones((1, 4), "int32"), np.ones((1, 6, 8), "float32")
    ).shape  # (1, 4, 8)
    ```
    """

    layer_class = WhisperDecoderLayer

    def __init__(self, vocabulary_size, *args, **kwargs):
        # Set first: the base class's constructor calls `create_embeddings`.
        self.vocabulary_size = vocabulary_size
        super().__init__(*args, **kwargs)

    def create_embeddings(self):
        self.token_embedding = WhisperTokenEmbedding(
            self.vocabulary_size, self.hidden_dim, dtype=self.dtype_policy, name="token_embedding"
        )

    def build(self, token_ids_shape):
        self.token_embedding.build(token_ids_shape)
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(self.max_sequence_length, self.hidden_dim),
            initializer=whisper_kernel_initializer(),
        )
        self.build_stack(token_ids_shape[0])

    def call(self, token_ids, encoder_sequence, padding_mask=None, training=None):
        length = ops.shape(token_ids)[1]
        x = self.embed(token_ids, start_index=0, training=training)
        mask = causal_mask(length, length, query_offset=0)
        if padding_mask is not None:
            # Padded tokens are never attended to; keras_hub masks keys only.
            keys_mask = ops.cast(padding_mask, "bool")[:, None, None, :]
            mask = ops.logical_and(mask, keys_mask)
        x = self.run_layers(x, training, encoder_sequence, self_attention_mask=mask)
        return self.final_norm(x)

    def embed(self, token_ids, start_index, training=None):
        """Token plus position embeddings for tokens at `start_index` onwards."""
        length = ops.shape(token_ids)[1]
        positions = ops.slice(self.position_embedding, [start_index, 0], [length, self.hidden_dim])
        x = self.token_embedding(token_ids) + ops.cast(positions, self.compute_dtype)
        return self.embeddings_dropout(x, training=training)

    def compute_cross_key_values(self, encoder_sequence):
        """Per layer, cross-attention keys and values for `call_with_cache`."""
        return ops.stack(
            [
                layer.cross_attention.compute_key_value(encoder_sequence)
                for layer in self.transformer_layers
            ]
        )

    def empty_cache(self, batch_size, max_length):
        """Zeros for every layer's self-attention keys and values."""
        head_dim = self.hidden_dim // self.num_heads
        shape = (self.num_layers, batch_size, 2, self.num_heads, max_length, head_dim)
        return ops.zeros(shape, dtype=self.compute_dtype)

    def call_with_cache(self, token_ids, cross_key_values, cache, cache_index):
        """Decodes `token_ids` placed at `cache_index`, given earlier positions.

        Args:
            token_ids: int (batch, length), the tokens at positions
                `cache_index` .. `cache_index + length - 1`.
            cross_key_values: from `compute_cross_key_values`.
            cache: from `empty_cache` or an earlier call; positions before
                `cache_index` must be filled.
            cache_index: int scalar tensor or Python int.

        Returns:
            `(hidden, cache)`: the final-norm outputs (batch, length, hidden)
            and the cache with these tokens' keys and values written in.
        """
        length = ops.shape(token_ids)[1]
        x = self.embed(token_ids, start_index=cache_index)
        mask = causal_mask(length, ops.shape(cache)[4], query_offset=cache_index)
        layer_caches = []
        for index, layer in enumerate(self.transformer_layers):
            x, layer_cache = layer(
                x,
                self_attention_mask=mask,
                cross_key_value=cross_key_values[index],
                self_attention_cache=cache[index],
                cache_index=cache_index,
            )
            layer_caches.append(layer_cache)
        return self.final_norm(x), ops.stack(layer_caches)

    def logits(self, hidden):
        """The tied language-model head: `hidden @ token_embedding^T`."""
        return self.token_embedding(hidden, reverse=True)

    def compute_output_shape(self, token_ids_shape, encoder_sequence_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size}


def causal_mask(query_length, key_length, query_offset):
    """bool (1, 1, query_length, key_length): query i sees keys <= offset + i."""
    query_positions = ops.arange(query_length) + query_offset
    key_positions = ops.arange(key_length)
    mask = key_positions[None, :] <= query_positions[:, None]
    return mask[None, None, :, :]
