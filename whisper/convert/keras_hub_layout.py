"""keras_hub's WhisperBackbone weight file, described once.

keras_hub's `model.weights.h5` stores every weight as a dataset `vars/0`,
`vars/1`, ... under a group named after the layer's class and its rank
among layers of that class (`whisper_encoder`, `whisper_encoder_1`, ...).
`keras_hub_layout(config)` lists the datasets of an architecture as
`WeightSpec`s: the dataset's path, which part of the network it holds, its
shape and how that shape is laid out. Our own variables
(`keras_hub_weights`) and every foreign format (`transformers_format`,
`ctranslate2_reader`) are mapped onto these specs, so one loader checks and
assigns the weights of every format.

The part of the network is named by `stack` ("encoder" or "decoder"),
`layer` (the transformer layer, or None), `block` (our layers' attribute
names: "conv_1", "self_attention", "feedforward_layer_norm", ...),
`projection` ("query", "key", "value" or "output" inside an attention
block, else None) and `param` ("kernel", "bias", "gamma", "beta" or "table").

Example:

```python
from whisper.convert.keras_hub_layout import keras_hub_layout
from whisper.whisper_presets import backbone_presets

specs = keras_hub_layout(backbone_presets["whisper_tiny_en"]["config"])
len(specs)  # 167
specs[4].path  # 'layers/position_embedding/vars/0'
specs[4].shape  # (1500, 384)
```
"""

import dataclasses

# How a dataset's axes are laid out, which converters to other formats need:
# a (width, in, out) convolution kernel, an (in, out) dense kernel, an
# attention projection kernel (hidden, heads, head_dim) with its bias
# (heads, head_dim), an attention output kernel (heads, head_dim, hidden),
# a vector (biases and norms) and a table (rows of embeddings or positions).
CONV = "conv"
DENSE = "dense"
PROJECTION = "projection"
PROJECTION_BIAS = "projection_bias"
OUTPUT = "output"
VECTOR = "vector"
TABLE = "table"

ENCODER_LAYER_GROUP = "layers/whisper_encoder"
DECODER_LAYER_GROUP = "layers/whisper_decoder"
EMBEDDINGS_GROUP = "layers/token_and_position_embedding"
ATTENTION_GROUPS = {
    "self_attention": "_self_attention_layer",
    "cross_attention": "_cross_attention_layer",
}
# The key projection has no bias: it would add the same amount to every
# score of a query, which softmax ignores.
BIASED_PROJECTIONS = ("query", "value", "output")


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """One dataset of keras_hub's weight file, and what it holds."""

    path: str
    stack: str
    layer: int | None
    block: str
    projection: str | None
    param: str
    shape: tuple
    layout: str

    @property
    def name(self):
        """A readable name such as `decoder.2.cross_attention.key.kernel`."""
        parts = (self.stack, self.layer, self.block, self.projection, self.param)
        return ".".join(str(part) for part in parts if part is not None)


def numbered(group, index):
    """Keras numbers the second and later layers of a class: name, name_1, ..."""
    return group if index == 0 else f"{group}_{index}"


def keras_hub_layout(config):
    """Every dataset of the architecture `config` describes, in file order.

    Args:
        config: `WhisperBackbone` constructor arguments (or its
            `get_config()`), every size given.
    """
    hidden = config["hidden_dim"]
    num_mels = config["num_mels"]
    encoder = _Place("encoder", None)
    decoder = _Place("decoder", None)
    specs = [
        *encoder.biased("layers/conv1d", "conv_1", CONV, (3, num_mels, hidden)),
        *encoder.biased("layers/conv1d_1", "conv_2", CONV, (3, hidden, hidden)),
        encoder.table(
            "layers/position_embedding",
            "position_embedding",
            config["max_encoder_sequence_length"] // 2,
            hidden,
        ),
    ]
    for index in range(config["num_layers"]):
        specs += _layer_specs(config, _Place("encoder", index))
    specs += encoder.norm("layers/layer_normalization", "layer_norm", hidden)
    specs += [
        decoder.table(
            f"{EMBEDDINGS_GROUP}/token_embedding",
            "token_embedding",
            config["vocabulary_size"],
            hidden,
        ),
        decoder.table(
            f"{EMBEDDINGS_GROUP}/position_embedding",
            "position_embedding",
            config["max_decoder_sequence_length"],
            hidden,
        ),
    ]
    for index in range(config.get("num_decoder_layers") or config["num_layers"]):
        specs += _layer_specs(config, _Place("decoder", index))
    specs += decoder.norm("layers/layer_normalization_1", "layer_norm", hidden)
    return specs


def _layer_specs(config, place):
    hidden, intermediate = config["hidden_dim"], config["intermediate_dim"]
    layer_group = ENCODER_LAYER_GROUP if place.stack == "encoder" else DECODER_LAYER_GROUP
    group = numbered(layer_group, place.layer)
    blocks = ["self_attention"] + (["cross_attention"] if place.stack == "decoder" else [])
    specs = []
    for block in blocks:
        specs += place.attention(f"{group}/{ATTENTION_GROUPS[block]}", block, config)
        norm = f"{block}_layer_norm"
        specs += place.norm(f"{group}/_{norm}", norm, hidden)
    feedforward = [
        ("feedforward_intermediate_dense", (hidden, intermediate)),
        ("feedforward_output_dense", (intermediate, hidden)),
    ]
    specs += place.norm(f"{group}/_feedforward_layer_norm", "feedforward_layer_norm", hidden)
    for block, kernel_shape in feedforward:
        specs += place.biased(f"{group}/_{block}", block, DENSE, kernel_shape)
    return specs


@dataclasses.dataclass(frozen=True)
class _Place:
    """Where in the network specs are made: a stack, and a layer or None."""

    stack: str
    layer: int | None

    def spec(self, path, block, param, shape, layout, projection=None):
        return WeightSpec(path, self.stack, self.layer, block, projection, param, shape, layout)

    def biased(self, group, block, layout, kernel_shape):
        """A kernel then its bias: the order Keras creates them in."""
        return [
            self.spec(f"{group}/vars/0", block, "kernel", kernel_shape, layout),
            self.spec(f"{group}/vars/1", block, "bias", (kernel_shape[-1],), VECTOR),
        ]

    def norm(self, group, block, hidden):
        return [
            self.spec(f"{group}/vars/0", block, "gamma", (hidden,), VECTOR),
            self.spec(f"{group}/vars/1", block, "beta", (hidden,), VECTOR),
        ]

    def table(self, group, block, rows, width):
        return self.spec(f"{group}/vars/0", block, "table", (rows, width), TABLE)

    def attention(self, group, block, config):
        hidden, heads = config["hidden_dim"], config["num_heads"]
        head_dim = hidden // heads
        specs = []
        for projection in ("query", "key", "value", "output"):
            path = f"{group}/{projection}_dense/vars"
            if projection == "output":
                kernel = ((heads, head_dim, hidden), OUTPUT)
                bias = ((hidden,), VECTOR)
            else:
                kernel = ((hidden, heads, head_dim), PROJECTION)
                bias = ((heads, head_dim), PROJECTION_BIAS)
            specs.append(self.spec(f"{path}/0", block, "kernel", *kernel, projection))
            if projection in BIASED_PROJECTIONS:
                specs.append(self.spec(f"{path}/1", block, "bias", *bias, projection))
        return specs
