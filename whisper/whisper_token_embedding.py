"""The decoder's token embedding, which is also the language-model head."""

import keras
from keras import ops

from whisper.layer_utils import whisper_kernel_initializer


@keras.saving.register_keras_serializable(package="whisper")
class WhisperTokenEmbedding(keras.layers.Embedding):
    """A token embedding that maps hidden states back to token logits.

    `layer(token_ids)` looks up embeddings; `layer(hidden, reverse=True)`
    multiplies by the transposed table, giving logits with the same weights
    (Whisper ties its output projection to the input embedding). This is the
    calling convention of keras_hub's `ReversibleEmbedding`.

    Args:
        input_dim: int. Vocabulary size.
        output_dim: int. Embedding width.

    Example:

    ```python
    import numpy as np
    from whisper.whisper_token_embedding import WhisperTokenEmbedding

    embedding = WhisperTokenEmbedding(100, 8)
    hidden = embedding(np.array([[1, 2, 3]]))  # (1, 3, 8)
    logits = embedding(hidden, reverse=True)  # (1, 3, 100)
    ```
    """

    def __init__(self, input_dim, output_dim, **kwargs):
        kwargs.setdefault("embeddings_initializer", whisper_kernel_initializer())
        super().__init__(input_dim, output_dim, **kwargs)

    def call(self, inputs, reverse=False):
        if not reverse:
            return super().call(inputs)
        table = ops.cast(self.embeddings, self.compute_dtype)
        return ops.matmul(ops.cast(inputs, self.compute_dtype), ops.transpose(table))

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return super().compute_output_shape(input_shape)
