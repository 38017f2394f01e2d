"""WhisperBackbone: the encoder-decoder network, keras_hub's contract."""

import os

import keras

from whisper import preset_io
from whisper.convert.checkpoint_formats import read_imported_checkpoint
from whisper.convert.keras_hub_weights import assign_keras_hub_arrays
from whisper.convert.keras_hub_weights import load_keras_hub_weights
from whisper.convert.keras_hub_weights import save_keras_hub_weights
from whisper.preset_handles import resolve_preset
from whisper.whisper_decoder import WhisperDecoder
from whisper.whisper_encoder import WhisperEncoder
from whisper.whisper_presets import backbone_presets


@keras.saving.register_keras_serializable(package="whisper")
class WhisperBackbone(keras.Model):
    """Whisper's encoder-decoder network for speech, without a head.

    Takes the same constructor arguments, inputs and outputs as
    `keras_hub.models.WhisperBackbone`, reads and writes keras_hub's preset
    directories, and adds two optional arguments for newer checkpoints:
    `num_decoder_layers` (large-v3-turbo keeps 32 encoder layers but 4 decoder
    layers) and any `num_mels` (large-v3 uses 128). Logits come from the
    decoder output times the token embedding,
    `backbone.token_embedding(decoder_sequence_output, reverse=True)`, as in
    OpenAI's model.

    Args:
        vocabulary_size: int. Number of tokens.
        num_layers: int. Encoder layers, and decoder layers unless
            `num_decoder_layers` is given.
        num_heads: int. Attention heads in every layer.
        hidden_dim: int. Width of the residual stream.
        intermediate_dim: int. Width of each feedforward's hidden layer.
        num_mels: int. Mel bins of the input features.
        dropout: float. Dropout rate.
        max_encoder_sequence_length: int. Most feature frames (3000 = 30 s);
            the encoder position table has half as many rows.
        max_decoder_sequence_length: int. Most decoder tokens.
        num_decoder_layers: int or None. Decoder layers when they differ from
            `num_layers`.
        dtype: string or `keras.DTypePolicy` for computations and weights.
            Softmax and layer normalization always compute in float32.

    Example:

    ```python
    import numpy as np
    from whisper import WhisperBackbone

    input_data = {
        "encoder_features": np.ones(shape=(1, 12, 80), dtype="int32"),
        "decoder_token_ids": np.ones(shape=(1, 12), dtype="int32"),
        "decoder_padding_mask": np.array([[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]]),
    }
    model = WhisperBackbone(
        vocabulary_size=51864,
        num_layers=4,
        num_heads=4,
        hidden_dim=256,
        intermediate_dim=512,
        max_encoder_sequence_length=128,
        max_decoder_sequence_length=128,
    )
    outputs = model(input_data)  # encoder (1, 6, 256), decoder (1, 12, 256)
    ```
    """

    presets = backbone_presets

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        num_mels=80,
        dropout=0.0,
        max_encoder_sequence_length=3000,
        max_decoder_sequence_length=448,
        num_decoder_layers=None,
        dtype=None,
        **kwargs,
    ):
        policy = keras.dtype_policies.get(dtype) if dtype else None
        self.encoder = WhisperEncoder(
            num_layers,
            num_heads,
            hidden_dim,
            intermediate_dim,
            max_sequence_length=max_encoder_sequence_length,
            dropout=dropout,
            dtype=policy,
            name="encoder",
        )
        self.decoder = WhisperDecoder(
            vocabulary_size,
            num_decoder_layers or num_layers,
            num_heads,
            hidden_dim,
            intermediate_dim,
            max_sequence_length=max_decoder_sequence_length,
            dropout=dropout,
            dtype=policy,
            name="decoder",
        )
        inputs = {
            "encoder_features": keras.Input(
                shape=(None, num_mels), dtype="float32", name="encoder_features"
            ),
            "decoder_token_ids": keras.Input(
                shape=(None,), dtype="int32", name="decoder_token_ids"
            ),
            "decoder_padding_mask": keras.Input(
                shape=(None,), dtype="int32", name="decoder_padding_mask"
            ),
        }
        encoder_output = self.encoder(inputs["encoder_features"])
        decoder_output = self.decoder(
            inputs["decoder_token_ids"],
            encoder_output,
            padding_mask=inputs["decoder_padding_mask"],
        )
        super().__init__(
            inputs=inputs,
            outputs={
                "encoder_sequence_output": encoder_output,
                "decoder_sequence_output": decoder_output,
            },
            dtype=policy,
            **kwargs,
        )
        if policy is not None:
            # Functional models keep the global policy; record the requested one.
            self.dtype_policy = policy
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.num_mels = num_mels
        self.dropout = dropout
        self.max_encoder_sequence_length = max_encoder_sequence_length
        self.max_decoder_sequence_length = max_decoder_sequence_length
        self.num_decoder_layers = num_decoder_layers

    @property
    def token_embedding(self):
        """The token embedding layer; `token_embedding(hidden, reverse=True)`
        gives logits, as keras_hub's `ReversibleEmbedding` does."""
        return self.decoder.token_embedding

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "num_mels": self.num_mels,
            "dropout": self.dropout,
            "max_encoder_sequence_length": self.max_encoder_sequence_length,
            "max_decoder_sequence_length": self.max_decoder_sequence_length,
            "num_decoder_layers": self.num_decoder_layers,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Builds a backbone from a preset, with its weights unless told not to.

        Args:
            preset: a built-in name (`WhisperBackbone.presets`), a
                `kaggle://` or `hf://` handle, or a directory holding a
                keras_hub preset, a Hugging Face transformers checkpoint or a
                CTranslate2 model (detected from its files).
            load_weights: bool. False gives the architecture with random
                weights; for a built-in name nothing is downloaded.
            **kwargs: overrides of the stored config, e.g. `dtype`.

        Example:

        ```python
        from whisper import WhisperBackbone

        model = WhisperBackbone.from_preset("whisper_tiny_en", load_weights=False)
        ```
        """
        if not load_weights and preset in cls.presets:
            return cls(**{**cls.presets[preset]["config"], **kwargs})
        preset_dir = resolve_preset(preset)
        imported = read_imported_checkpoint(preset_dir)
        if imported is not None:
            return cls.from_imported_checkpoint(imported, load_weights, **kwargs)
        config_path = os.path.join(preset_dir, preset_io.CONFIG_FILE)
        config = preset_io.read_serialized(config_path, cls)
        backbone = cls(**{**config, **kwargs})
        if load_weights:
            weights_path = os.path.join(preset_dir, preset_io.MODEL_WEIGHTS_FILE)
            load_keras_hub_weights(backbone, weights_path)
        return backbone

    @classmethod
    def from_imported_checkpoint(cls, imported, load_weights=True, **kwargs):
        """Builds a backbone from a transformers or CTranslate2 checkpoint."""
        backbone = cls(**{**imported.backbone_config, **kwargs})
        if load_weights:
            assign_keras_hub_arrays(backbone, imported.arrays, imported.source)
        return backbone

    def save_to_preset(self, preset_dir):
        """Writes config.json, model.weights.h5 and metadata.json (keras_hub's format)."""
        os.makedirs(preset_dir, exist_ok=True)
        preset_io.write_serialized(
            os.path.join(preset_dir, preset_io.CONFIG_FILE), self, self._preset_config()
        )
        save_keras_hub_weights(self, os.path.join(preset_dir, preset_io.MODEL_WEIGHTS_FILE))
        preset_io.write_metadata(preset_dir, self.count_params())

    def _preset_config(self):
        """The config without our extensions where they are unused.

        keras_hub passes unknown keys to its constructor, which rejects them,
        so standard architectures must not carry `num_decoder_layers`.
        """
        config = self.get_config()
        if config["num_decoder_layers"] in (None, self.num_layers):
            del config["num_decoder_layers"]
        return config
