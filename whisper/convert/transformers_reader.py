"""Reads Hugging Face transformers Whisper checkpoints into our terms.

Reading gives an `ImportedCheckpoint`: the backbone's arguments, the weights
in keras_hub's dataset layout, the tokenizer and the language, task and
token suppression the checkpoint decodes with. Weights are read with
safetensors' NumPy API, one tensor at a time when the backbone asks for it;
torch is never needed.

Nothing in the directory runs: pickled weights (pytorch_model.bin) are
refused, never unpickled, and transformers is never imported, so the
`auto_map` and `trust_remote_code` of a config.json, and any Python file
beside it, are ignored; only the numeric keys below are read.

Example:

```python
from whisper.convert.transformers_reader import read_transformers_checkpoint

imported = read_transformers_checkpoint("/path/to/whisper-tiny")
imported.backbone_config["num_layers"], imported.generation["language"]
```
"""

import collections.abc
import os
import warnings

# Imported for its side effect: it teaches NumPy the bfloat16 dtype, without
# which safetensors cannot read bfloat16 checkpoints into NumPy.
import ml_dtypes  # noqa: F401
import numpy as np
import safetensors

from whisper.convert import transformers_format as hf
from whisper.convert.imported_checkpoint import ImportedCheckpoint
from whisper.convert.imported_checkpoint import read_tokenizer_json
from whisper.convert.keras_hub_layout import keras_hub_layout
from whisper.convert.torch_layout import from_torch
from whisper.convert.torch_layout import torch_shape
from whisper.preset_io import PresetError
from whisper.preset_io import refuse_unsafe_files
from whisper.special_tokens import TASKS
from whisper.special_tokens import is_english_only_vocabulary
from whisper.special_tokens import language_code
from whisper.special_tokens import language_token
from whisper.utils.json_io import read_json

READABLE_DTYPES = ("F16", "BF16", "F32", "F64")


def is_transformers_checkpoint(path):
    """Whether `path` holds a config.json with `model_type` "whisper"."""
    config_path = os.path.join(path, hf.CONFIG_FILE)
    if not os.path.isfile(config_path):
        return False
    config = read_json(config_path, error=PresetError)
    return isinstance(config, dict) and config.get("model_type") == hf.MODEL_TYPE


def read_transformers_checkpoint(path):
    """Reads the transformers Whisper checkpoint in directory `path`.

    Weights may be float32, float16 or bfloat16 (they become float32), in
    one file or in shards, named as `WhisperForConditionalGeneration`
    (`model.` prefix) or `WhisperModel` (no prefix) names them. They are
    read from disk only when the backbone asks for them.

    Returns:
        An `ImportedCheckpoint`; its tokenizer is None without tokenizer.json.
    """
    config_path = os.path.join(path, hf.CONFIG_FILE)
    config = read_json(config_path, error=PresetError)
    backbone_config = _backbone_config(config, config_path)
    tokenizer = read_tokenizer_json(path)
    return ImportedCheckpoint(
        backbone_config=backbone_config,
        arrays=_read_weights(path, backbone_config),
        tokenizer=tokenizer,
        generation=_read_generation(path, config, tokenizer, backbone_config),
        source=f"Hugging Face transformers checkpoint '{path}'",
    )


def _backbone_config(config, config_path):
    """`WhisperBackbone` arguments for a transformers `WhisperConfig`."""

    def value(key, default=None):
        if key in config:
            return config[key]
        if default is None:
            raise PresetError(f"'{config_path}' lacks the key '{key}'.")
        return default

    def require(key, allowed, default=None):
        if value(key, default) not in allowed:
            raise PresetError(
                f"'{config_path}' sets {key} = {value(key, default)!r}; "
                f"WhisperBackbone supports only "
                f"{' or '.join(repr(a) for a in allowed)}."
            )

    require("activation_function", (hf.ACTIVATION,), default=hf.ACTIVATION)
    require("scale_embedding", (False,), default=False)
    num_heads = value("encoder_attention_heads")
    intermediate_dim = value("encoder_ffn_dim")
    # One head count and one feedforward width serve encoder and decoder.
    require("decoder_attention_heads", (num_heads,))
    require("decoder_ffn_dim", (intermediate_dim,))
    hidden_dim = value("d_model")
    if hidden_dim % num_heads:
        raise PresetError(
            f"'{config_path}': d_model {hidden_dim} is not a multiple of "
            f"encoder_attention_heads {num_heads}."
        )
    dropout = value("dropout", 0.0)
    _warn_about_other_dropouts(config, config_path, dropout)
    backbone_config = {
        "vocabulary_size": value("vocab_size"),
        "num_layers": value("encoder_layers"),
        "num_heads": num_heads,
        "hidden_dim": hidden_dim,
        "intermediate_dim": intermediate_dim,
        "num_mels": value("num_mel_bins"),
        "dropout": dropout,
        # The encoder halves the frames with its strided convolution.
        "max_encoder_sequence_length": 2 * value("max_source_positions"),
        "max_decoder_sequence_length": value("max_target_positions"),
    }
    if value("decoder_layers") != backbone_config["num_layers"]:
        backbone_config["num_decoder_layers"] = value("decoder_layers")
    return backbone_config


def _warn_about_other_dropouts(config, config_path, dropout):
    # Our layers apply one rate to the residual branches and the attention
    # probabilities, and none after the feedforward activation.
    attention = config.get("attention_dropout", 0.0)
    activation = config.get("activation_dropout", 0.0)
    if attention != dropout or activation:
        warnings.warn(
            f"'{config_path}' sets attention_dropout {attention} and "
            f"activation_dropout {activation}; WhisperBackbone trains with "
            f"dropout {dropout} on attention probabilities and none after "
            f"the feedforward activation. Inference is unaffected.",
            stacklevel=4,
        )


# Weights ---------------------------------------------------------------------


def _read_weights(path, backbone_config):
    """Checks every tensor's name, shape and dtype; values are read on demand."""
    tensors = _stored_tensors(path)
    prefix = _name_prefix(tensors, path)
    specs = {prefix + hf.tensor_name(spec): spec for spec in keras_hub_layout(backbone_config)}
    stored = set(tensors) - {hf.HEAD}
    missing, unexpected = sorted(set(specs) - stored), sorted(stored - set(specs))
    if missing or unexpected:
        raise PresetError(
            f"The weights in '{path}' do not match its config.json: "
            f"{len(missing)} missing tensors {missing[:5]}, {len(unexpected)} "
            f"unexpected tensors {unexpected[:5]}."
        )
    sources = {}
    for name, spec in specs.items():
        _check_tensor(tensors[name], torch_shape(spec.layout, spec.shape))
        sources[spec.path] = (tensors[name], spec.layout)
    if hf.HEAD in tensors:
        _check_tied_head(tensors, prefix + hf.TOKEN_EMBEDDING)
    return _LazyArrays(sources, backbone_config["num_heads"])


class _StoredTensor:
    """Where a tensor is and what it is, read from a safetensors header."""

    def __init__(self, file, name, shape, dtype):
        self.file = file
        self.name = name
        self.shape = tuple(shape)
        self.dtype = dtype

    def read(self):
        """The tensor in float32."""
        with safetensors.safe_open(self.file, framework="np") as tensors:
            return tensors.get_tensor(self.name).astype("float32")


def _stored_tensors(path):
    """{name: _StoredTensor} of a single-file or a sharded checkpoint."""
    single = os.path.join(path, hf.WEIGHTS_FILE)
    index = os.path.join(path, hf.WEIGHTS_INDEX_FILE)
    if os.path.isfile(single):
        files = [single]
    elif os.path.isfile(index):
        files = _shard_files(path, index)
    else:
        readable = (
            f"safetensors weights ({hf.WEIGHTS_FILE} or {hf.WEIGHTS_INDEX_FILE}); save "
            f"the checkpoint again with transformers' "
            f"save_pretrained(path, safe_serialization=True)"
        )
        refuse_unsafe_files(path, readable)
        raise PresetError(f"'{path}' has none of the weights read here: {readable}.")
    tensors = {}
    for file in files:
        for name, shape, dtype in _tensor_headers(file):
            tensors[name] = _StoredTensor(file, name, shape, dtype)
    return tensors


def _tensor_headers(file):
    """[(name, shape, dtype)] of a safetensors file; a clear error for any other file."""
    try:
        with safetensors.safe_open(file, framework="np") as stored:
            slices = [(name, stored.get_slice(name)) for name in stored.keys()]
            return [(name, part.get_shape(), part.get_dtype()) for name, part in slices]
    except (safetensors.SafetensorError, OSError) as error:
        # A pickle renamed model.safetensors lands here too; it is never unpickled.
        raise PresetError(
            f"'{file}' is not a safetensors file ({error}); only safetensors weights are read."
        ) from None


def _shard_files(path, index):
    weight_map = read_json(index, error=PresetError).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise PresetError(f"'{index}' has no weight_map of tensor names to files.")
    shards = list(weight_map.values())
    # Shards lie beside the index; a path would read files outside the checkpoint.
    outside = [s for s in shards if not isinstance(s, str) or os.path.basename(s) != s]
    if outside:
        raise PresetError(f"'{index}' lists shards that are not file names: {outside}.")
    files = [os.path.join(path, shard) for shard in sorted(set(shards))]
    absent = [file for file in files if not os.path.isfile(file)]
    if absent:
        raise PresetError(f"'{index}' lists shards that do not exist: {absent}.")
    return files


def _name_prefix(tensors, path):
    """`model.` for WhisperForConditionalGeneration, "" for a bare WhisperModel."""
    for prefix in (hf.MODEL_PREFIX, ""):
        if prefix + hf.TOKEN_EMBEDDING in tensors:
            return prefix
    raise PresetError(
        f"The weights in '{path}' have no token embedding "
        f"('{hf.MODEL_PREFIX}{hf.TOKEN_EMBEDDING}' or '{hf.TOKEN_EMBEDDING}'); "
        f"they are not those of a Whisper speech recognition model."
    )


def _check_tensor(stored_tensor, shape):
    if stored_tensor.dtype not in READABLE_DTYPES:
        raise PresetError(
            f"Tensor '{stored_tensor.name}' in '{stored_tensor.file}' has dtype "
            f"{stored_tensor.dtype}; readable dtypes are {list(READABLE_DTYPES)} "
            f"(quantized checkpoints are not supported)."
        )
    if stored_tensor.shape != tuple(shape):
        raise PresetError(
            f"Tensor '{stored_tensor.name}' in '{stored_tensor.file}' has shape "
            f"{stored_tensor.shape}; config.json implies {tuple(shape)}."
        )


def _check_tied_head(tensors, embedding_name):
    # WhisperBackbone's head is its token embedding; a checkpoint may store
    # the tied copy, but a head trained apart from it cannot be loaded.
    head, embedding = tensors[hf.HEAD], tensors[embedding_name]
    if head.shape != embedding.shape or not np.array_equal(head.read(), embedding.read()):
        raise PresetError(
            f"'{hf.HEAD}' in '{head.file}' differs from '{embedding_name}'. "
            f"WhisperBackbone ties its output layer to the token embedding; "
            f"checkpoints with an untied head are not supported."
        )


class _LazyArrays(collections.abc.Mapping):
    """{keras_hub dataset path: float32 array}, each read when asked for.

    Only the tensor being assigned is held in float32, not a second copy of
    the whole model: a large-v3 checkpoint is 6 GB in float32.
    """

    def __init__(self, sources, num_heads):
        self._sources = sources
        self._num_heads = num_heads

    def __getitem__(self, dataset):
        stored_tensor, layout = self._sources[dataset]
        return from_torch(layout, stored_tensor.read(), self._num_heads)

    def __iter__(self):
        return iter(self._sources)

    def __len__(self):
        return len(self._sources)


# Generation settings -----------------------------------------------------------


def _read_generation(path, config, tokenizer, backbone_config):
    """`WhisperAudioToText` settings from generation_config.json.

    Checkpoints older than generation_config.json keep these settings in
    config.json, which transformers then reads instead.
    """
    settings_path = os.path.join(path, hf.GENERATION_CONFIG_FILE)
    if os.path.isfile(settings_path):
        settings = read_json(settings_path, error=PresetError)
    else:
        settings_path, settings = os.path.join(path, hf.CONFIG_FILE), config
    vocabulary_size = backbone_config["vocabulary_size"]
    language, task = None, "transcribe"
    # An English-only model only transcribes English; its prompt names neither.
    if _is_multilingual(tokenizer, settings, vocabulary_size):
        forced = _forced_decoder_ids(settings, settings_path)
        language = _stated_language(settings, forced, tokenizer, settings_path)
        task = _stated_task(settings, forced, tokenizer, settings_path)
    return {
        "language": language,
        "task": task,
        "suppress_tokens": _token_ids(settings, "suppress_tokens", vocabulary_size, settings_path),
        "begin_suppress_tokens": _token_ids(
            settings, "begin_suppress_tokens", vocabulary_size, settings_path
        ),
    }


def _is_multilingual(tokenizer, settings, vocabulary_size):
    if tokenizer is not None:
        return tokenizer.is_multilingual
    if settings.get("is_multilingual") is not None:
        return bool(settings["is_multilingual"])
    return not is_english_only_vocabulary(vocabulary_size)


def _forced_decoder_ids(settings, settings_path):
    """{prompt position: token id} from the legacy `forced_decoder_ids`."""
    pairs = settings.get("forced_decoder_ids") or []
    try:
        return {int(position): token_id for position, token_id in pairs}
    except (TypeError, ValueError):
        raise PresetError(
            f"'{settings_path}': forced_decoder_ids {pairs!r} is not a list of "
            f"[position, token id] pairs."
        ) from None


def _stated_language(settings, forced, tokenizer, settings_path):
    """The language code the checkpoint decodes, or None if it detects it.

    transformers accepts `language` as a token ("<|fr|>"), a code ("fr") or
    an English name ("french"); before `language` existed, the language
    token was forced at prompt position 1.
    """
    # The tokenizer's ids are the ones our prompt will use.
    languages = (
        tokenizer.language_tokens if tokenizer is not None else settings.get("lang_to_id") or {}
    )
    language = settings.get("language")
    if isinstance(language, (list, tuple)) and len(set(language)) == 1:
        language = language[0]
    if language is None:
        tokens = {i: token for token, i in languages.items()}
        if forced.get(1) not in tokens:
            return None
        language = tokens[forced[1]]
    if not isinstance(language, str):
        raise PresetError(f"'{settings_path}': language {language!r} is not one language.")
    code = language_code(language)
    if languages and language_token(code) not in languages:
        raise PresetError(
            f"'{settings_path}': language {language!r} has no language token "
            f"{language_token(code)} in this checkpoint."
        )
    return code


def _stated_task(settings, forced, tokenizer, settings_path):
    task = settings.get("task")
    if task is None:
        if tokenizer is not None:
            ids = hf.task_ids(tokenizer)
        else:
            ids = settings.get("task_to_id") or {}
        tasks = {i: name for name, i in ids.items()}
        stated = [tasks[i] for i in forced.values() if i in tasks]
        return stated[0] if stated else "transcribe"
    if task not in TASKS:
        raise PresetError(f"'{settings_path}': task {task!r} is not one of {list(TASKS)}.")
    return task


def _token_ids(settings, key, vocabulary_size, settings_path):
    token_ids = settings.get(key)
    if token_ids is None:
        return None
    valid = isinstance(token_ids, (list, tuple)) and all(
        isinstance(i, int) and 0 <= i < vocabulary_size for i in token_ids
    )
    if not valid:
        raise PresetError(
            f"'{settings_path}': {key} must be a list of token ids below the "
            f"vocabulary size {vocabulary_size}, got {token_ids!r}."
        )
    return list(token_ids)
