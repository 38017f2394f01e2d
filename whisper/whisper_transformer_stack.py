"""What Whisper's encoder and decoder share: a stack of layers between embeddings and a norm."""

import keras
from keras import ops

from whisper.layer_utils import layer_norm


class WhisperTransformerStack(keras.layers.Layer):
    """Dropout on the embeddings, pre-norm transformer layers, a final layer norm.

    `WhisperEncoder` and `WhisperDecoder` subclass it, set `layer_class` to
    their transformer layer and create their own embeddings in
    `create_embeddings`, which runs first so that Keras lists the
    embeddings' variables before the layers' (checkpoints rely on the order).

    `set_rematerialization` (a training choice, not part of the config)
    trades compute for memory in training calls: recompute whole layers, or
    only their attention probabilities, in the backward pass.

    Args:
        num_layers: int. Number of transformer layers.
        num_heads: int. Attention heads per layer.
        hidden_dim: int. Width of the residual stream.
        intermediate_dim: int. Width of each feedforward's hidden layer.
        max_sequence_length: int. Most positions the stack's embeddings hold.
        dropout: float. Dropout rate.
    """

    layer_class = None

    def __init__(
        self,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.dropout = dropout
        self.create_embeddings()
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="embeddings_dropout"
        )
        self.transformer_layers = self.layer_class.stack(
            num_layers, num_heads, intermediate_dim, dropout, self.dtype_policy
        )
        self.layer_norm = layer_norm(self.dtype_policy, "layer_norm")
        self.rematerialize_layers = False

    def create_embeddings(self):
        """Creates the layers in front of the stack; subclasses override it."""

    def build_stack(self, batch_size):
        """Builds the transformer layers and the norm for hidden states."""
        hidden_shape = (batch_size, None, self.hidden_dim)
        for layer in self.transformer_layers:
            layer.build(hidden_shape)
        self.layer_norm.build(hidden_shape)

    def set_rematerialization(self, *, layers, attention):
        """Which activations training calls recompute instead of keeping.

        Args:
            layers: bool. Keep only each layer's inputs; recompute the rest
                (one more forward pass of every layer).
            attention: bool. Keep each attention's projections; recompute its
                scores and probabilities (a fraction of a forward pass, most
                of the memory of long sequences).
        """
        self.rematerialize_layers = layers
        for layer in self.transformer_layers:
            for attention_layer in layer.attention_layers:
                attention_layer.recompute_probabilities = attention

    def run_layers(self, hidden, training, *tensors, **options):
        """Runs `hidden` through the layers; each also gets `tensors` (which
        receive gradients) and `options` (which do not)."""
        for layer in self.transformer_layers:

            def call(hidden, *tensors, layer=layer):
                return layer(hidden, *tensors, training=training, **options)

            if self.rematerialize_layers and training:
                call = keras.remat(call)
            hidden = call(hidden, *tensors)
        return hidden

    def final_norm(self, hidden):
        # The norm computes in float32; outputs follow the model's policy.
        return ops.cast(self.layer_norm(hidden), self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "max_sequence_length": self.max_sequence_length,
                "dropout": self.dropout,
            }
        )
        return config
