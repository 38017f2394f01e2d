"""Hugging Face transformers Whisper checkpoints, read and written.

A transformers checkpoint is a directory with `config.json` (`model_type`
"whisper"), the weights in `model.safetensors` (or shards listed by
`model.safetensors.index.json`), and usually `tokenizer.json` and
`generation_config.json`. Reading it gives an `ImportedCheckpoint`: the
backbone's arguments, the weights in keras_hub's dataset layout, the
tokenizer and the language, task and token suppression the checkpoint
decodes with. Writing goes the other way, so that
`WhisperForConditionalGeneration.from_pretrained`, transformers' tokenizer
and its `generate` use a model trained here as it was trained.

Weights are read with safetensors' NumPy API; torch is never needed.
"""

import collections.abc
import os
import warnings

# Imported for its side effect: it teaches NumPy the bfloat16 dtype, without
# which safetensors cannot read bfloat16 checkpoints into NumPy.
import ml_dtypes  # noqa: F401
import numpy as np
import safetensors
import safetensors.numpy

from whisper import preset_io
from whisper.imported_checkpoint import ImportedCheckpoint
from whisper.whisper_audio_to_text import TASKS
from whisper.whisper_audio_to_text import WhisperAudioToText
from whisper.whisper_backbone import WhisperBackbone
from whisper.whisper_tokenizer import END_OF_TEXT_TOKEN
from whisper.whisper_tokenizer import WhisperTokenizer
from whisper.whisper_weights import keras_hub_arrays

CONFIG_FILE = "config.json"
GENERATION_CONFIG_FILE = "generation_config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
PREPROCESSOR_CONFIG_FILE = "preprocessor_config.json"

MODEL_TYPE = "whisper"
# WhisperForConditionalGeneration nests the network under `model.`; a bare
# WhisperModel has no prefix. Its head `proj_out` is tied to the embedding.
MODEL_PREFIX = "model."
HEAD = "proj_out.weight"
TOKEN_EMBEDDING = "decoder.embed_tokens.weight"
# transformers' "gelu" is the exact (erf) GELU that Whisper uses.
ACTIVATION = "gelu"
READABLE_DTYPES = ("F16", "BF16", "F32", "F64")
# The English-only vocabulary: GPT-2's 50257 tokens plus Whisper's.
ENGLISH_ONLY_VOCABULARY_SIZE = 51864
PREVIOUS_TEXT_TOKEN = "<|startofprev|>"

# Whisper's languages by code, with the English names transformers also
# accepts for `language` (fine-tuning recipes store e.g. "hindi").
LANGUAGE_NAMES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish",
    "ru": "russian", "ko": "korean", "fr": "french", "ja": "japanese",
    "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian",
    "id": "indonesian", "hi": "hindi", "fi": "finnish", "vi": "vietnamese",
    "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian",
    "ta": "tamil", "no": "norwegian", "th": "thai", "ur": "urdu",
    "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak",
    "te": "telugu", "fa": "persian", "lv": "latvian", "bn": "bengali",
    "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque",
    "is": "icelandic", "hy": "armenian", "ne": "nepali", "mn": "mongolian",
    "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala",
    "km": "khmer", "sn": "shona", "yo": "yoruba", "so": "somali",
    "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic",
    "yi": "yiddish", "lo": "lao", "uz": "uzbek", "fo": "faroese",
    "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar",
    "bo": "tibetan", "tl": "tagalog", "mg": "malagasy", "as": "assamese",
    "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa",
    "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}
LANGUAGE_ALIASES = {
    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht",
    "letzeburgesch": "lb", "pushto": "ps", "panjabi": "pa", "moldavian": "ro",
    "moldovan": "ro", "sinhalese": "si", "castilian": "es", "mandarin": "zh",
}
LANGUAGE_CODES = {
    **{name: code for code, name in LANGUAGE_NAMES.items()},
    **LANGUAGE_ALIASES,
}


# Detection and reading ------------------------------------------------------


def is_transformers_checkpoint(path):
    """Whether `path` holds a config.json with `model_type` "whisper"."""
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        return False
    config = preset_io.read_json(config_path)
    return isinstance(config, dict) and config.get("model_type") == MODEL_TYPE


def read_transformers_checkpoint(path):
    """Reads the transformers Whisper checkpoint in directory `path`.

    Weights may be float32, float16 or bfloat16 (they become float32), in
    one file or in shards, named as `WhisperForConditionalGeneration`
    (`model.` prefix) or `WhisperModel` (no prefix) names them. They are
    read from disk only when the backbone asks for them.

    Returns:
        An `ImportedCheckpoint`; its tokenizer is None without tokenizer.json.
    """
    config_path = os.path.join(path, CONFIG_FILE)
    config = preset_io.read_json(config_path)
    backbone_config = _backbone_config(config, config_path)
    tokenizer = _read_tokenizer(path)
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
            raise preset_io.PresetError(f"'{config_path}' lacks the key '{key}'.")
        return default

    def require(key, allowed, default=None):
        if value(key, default) not in allowed:
            raise preset_io.PresetError(
                f"'{config_path}' sets {key} = {value(key, default)!r}; "
                f"WhisperBackbone supports only "
                f"{' or '.join(repr(a) for a in allowed)}."
            )

    require("activation_function", (ACTIVATION,), default=ACTIVATION)
    require("scale_embedding", (False,), default=False)
    num_heads = value("encoder_attention_heads")
    intermediate_dim = value("encoder_ffn_dim")
    # One head count and one feedforward width serve encoder and decoder.
    require("decoder_attention_heads", (num_heads,))
    require("decoder_ffn_dim", (intermediate_dim,))
    hidden_dim = value("d_model")
    if hidden_dim % num_heads:
        raise preset_io.PresetError(
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
            f"the feedforward activation. Inference is unaffected."
        )


# Weights ---------------------------------------------------------------------


def _tensor_map(backbone_config):
    """(transformers name without `model.`, keras_hub path, layout, shape) of every weight."""
    hidden = backbone_config["hidden_dim"]
    intermediate = backbone_config["intermediate_dim"]
    encoder_layers = backbone_config["num_layers"]
    decoder_layers = backbone_config.get("num_decoder_layers") or encoder_layers
    mels = backbone_config["num_mels"]
    entries = [
        *_weight_and_bias("encoder.conv1", "layers/conv1d", "conv", (hidden, mels, 3)),
        *_weight_and_bias("encoder.conv2", "layers/conv1d_1", "conv", (hidden, hidden, 3)),
        (
            "encoder.embed_positions.weight",
            "layers/position_embedding/vars/0",
            "same",
            (backbone_config["max_encoder_sequence_length"] // 2, hidden),
        ),
    ]
    for index in range(encoder_layers):
        entries += _layer_entries(
            f"encoder.layers.{index}",
            _numbered("layers/whisper_encoder", index),
            hidden,
            intermediate,
        )
    entries += _weight_and_bias(
        "encoder.layer_norm", "layers/layer_normalization", "same", (hidden,)
    )
    embeddings = "layers/token_and_position_embedding"
    entries += [
        (
            TOKEN_EMBEDDING,
            f"{embeddings}/token_embedding/vars/0",
            "same",
            (backbone_config["vocabulary_size"], hidden),
        ),
        (
            "decoder.embed_positions.weight",
            f"{embeddings}/position_embedding/vars/0",
            "same",
            (backbone_config["max_decoder_sequence_length"], hidden),
        ),
    ]
    for index in range(decoder_layers):
        entries += _layer_entries(
            f"decoder.layers.{index}",
            _numbered("layers/whisper_decoder", index),
            hidden,
            intermediate,
            cross_attention=True,
        )
    entries += _weight_and_bias(
        "decoder.layer_norm", "layers/layer_normalization_1", "same", (hidden,)
    )
    return entries


def _numbered(group, index):
    # Keras numbers the second and later layers of a class: name, name_1, ...
    return group if index == 0 else f"{group}_{index}"


def _weight_and_bias(name, group, layout, shape, bias_layout="same"):
    return [
        (f"{name}.weight", f"{group}/vars/0", layout, shape),
        (f"{name}.bias", f"{group}/vars/1", bias_layout, (shape[0],)),
    ]


def _layer_entries(name, group, hidden, intermediate, cross_attention=False):
    entries = _attention_entries(f"{name}.self_attn", f"{group}/_self_attention_layer", hidden)
    entries += _weight_and_bias(
        f"{name}.self_attn_layer_norm", f"{group}/_self_attention_layer_norm", "same", (hidden,)
    )
    if cross_attention:
        entries += _attention_entries(
            f"{name}.encoder_attn", f"{group}/_cross_attention_layer", hidden
        )
        entries += _weight_and_bias(
            f"{name}.encoder_attn_layer_norm",
            f"{group}/_cross_attention_layer_norm",
            "same",
            (hidden,),
        )
    entries += _weight_and_bias(
        f"{name}.final_layer_norm", f"{group}/_feedforward_layer_norm", "same", (hidden,)
    )
    entries += _weight_and_bias(
        f"{name}.fc1", f"{group}/_feedforward_intermediate_dense", "dense", (intermediate, hidden)
    )
    entries += _weight_and_bias(
        f"{name}.fc2", f"{group}/_feedforward_output_dense", "dense", (hidden, intermediate)
    )
    return entries


def _attention_entries(name, group, hidden):
    square = (hidden, hidden)
    return [
        *_weight_and_bias(
            f"{name}.q_proj", f"{group}/query_dense", "projection", square, "projection_bias"
        ),
        # The key projection has no bias: it would add the same amount to
        # every score of a query, which softmax ignores.
        (f"{name}.k_proj.weight", f"{group}/key_dense/vars/0", "projection", square),
        *_weight_and_bias(
            f"{name}.v_proj", f"{group}/value_dense", "projection", square, "projection_bias"
        ),
        (f"{name}.out_proj.weight", f"{group}/output_dense/vars/0", "output", square),
        (f"{name}.out_proj.bias", f"{group}/output_dense/vars/1", "same", (hidden,)),
    ]


def _to_keras_hub(layout, array, num_heads):
    """A transformers tensor in keras_hub's layout.

    torch's Linear stores (out, in) and Conv1d (out, in, width); Keras
    kernels are (in, out) and (width, in, out), and keras_hub's attention
    kernels split the projected side into (heads, head_dim).
    """
    if layout == "conv":
        return array.transpose(2, 1, 0)
    if layout == "dense":
        return array.T
    if layout == "projection":
        return array.T.reshape(array.shape[1], num_heads, -1)
    if layout == "projection_bias":
        return array.reshape(num_heads, -1)
    if layout == "output":
        return array.T.reshape(num_heads, -1, array.shape[0])
    return array


def _to_transformers(layout, array):
    """A keras_hub array in transformers' layout; undoes `_to_keras_hub`."""
    if layout == "conv":
        return array.transpose(2, 1, 0)
    if layout == "dense":
        return array.T
    if layout == "projection":
        return array.reshape(array.shape[0], -1).T
    if layout == "projection_bias":
        return array.reshape(-1)
    if layout == "output":
        return array.reshape(-1, array.shape[-1]).T
    return array


def _read_weights(path, backbone_config):
    """Checks every tensor's name, shape and dtype; values are read on demand."""
    tensors = _stored_tensors(path)
    prefix = _name_prefix(tensors, path)
    entries = _tensor_map(backbone_config)
    expected = {prefix + name for name, _, _, _ in entries}
    stored = set(tensors) - {HEAD}
    missing, unexpected = sorted(expected - stored), sorted(stored - expected)
    if missing or unexpected:
        raise preset_io.PresetError(
            f"The weights in '{path}' do not match its config.json: "
            f"{len(missing)} missing tensors {missing[:5]}, {len(unexpected)} "
            f"unexpected tensors {unexpected[:5]}."
        )
    sources = {}
    for name, dataset, layout, shape in entries:
        stored_tensor = tensors[prefix + name]
        _check_tensor(stored_tensor, shape)
        sources[dataset] = (stored_tensor, layout)
    if HEAD in tensors:
        _check_tied_head(tensors, prefix + TOKEN_EMBEDDING)
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
    single = os.path.join(path, WEIGHTS_FILE)
    index = os.path.join(path, WEIGHTS_INDEX_FILE)
    if os.path.isfile(single):
        files = [single]
    elif os.path.isfile(index):
        files = _shard_files(path, index)
    else:
        raise preset_io.PresetError(
            f"'{path}' has no {WEIGHTS_FILE} nor {WEIGHTS_INDEX_FILE}. Only "
            f"safetensors weights are read; save a checkpoint with other "
            f"weights (pytorch_model.bin) again with transformers' "
            f"save_pretrained(path, safe_serialization=True)."
        )
    tensors = {}
    for file in files:
        with safetensors.safe_open(file, framework="np") as stored:
            for name in stored.keys():
                tensor = stored.get_slice(name)
                tensors[name] = _StoredTensor(
                    file, name, tensor.get_shape(), tensor.get_dtype()
                )
    return tensors


def _shard_files(path, index):
    weight_map = preset_io.read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise preset_io.PresetError(f"'{index}' has no weight_map of tensor names to files.")
    files = [os.path.join(path, shard) for shard in sorted(set(weight_map.values()))]
    absent = [file for file in files if not os.path.isfile(file)]
    if absent:
        raise preset_io.PresetError(f"'{index}' lists shards that do not exist: {absent}.")
    return files


def _name_prefix(tensors, path):
    """`model.` for WhisperForConditionalGeneration, "" for a bare WhisperModel."""
    for prefix in (MODEL_PREFIX, ""):
        if prefix + TOKEN_EMBEDDING in tensors:
            return prefix
    raise preset_io.PresetError(
        f"The weights in '{path}' have no token embedding "
        f"('{MODEL_PREFIX}{TOKEN_EMBEDDING}' or '{TOKEN_EMBEDDING}'); they are "
        f"not those of a Whisper speech recognition model."
    )


def _check_tensor(stored_tensor, shape):
    if stored_tensor.dtype not in READABLE_DTYPES:
        raise preset_io.PresetError(
            f"Tensor '{stored_tensor.name}' in '{stored_tensor.file}' has dtype "
            f"{stored_tensor.dtype}; readable dtypes are {list(READABLE_DTYPES)} "
            f"(quantized checkpoints are not supported)."
        )
    if stored_tensor.shape != tuple(shape):
        raise preset_io.PresetError(
            f"Tensor '{stored_tensor.name}' in '{stored_tensor.file}' has shape "
            f"{stored_tensor.shape}; config.json implies {tuple(shape)}."
        )


def _check_tied_head(tensors, embedding_name):
    # WhisperBackbone's head is its token embedding; a checkpoint may store
    # the tied copy, but a head trained apart from it cannot be loaded.
    head, embedding = tensors[HEAD], tensors[embedding_name]
    if head.shape != embedding.shape or not np.array_equal(
        head.read(), embedding.read()
    ):
        raise preset_io.PresetError(
            f"'{HEAD}' in '{head.file}' differs from '{embedding_name}'. "
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
        return _to_keras_hub(layout, stored_tensor.read(), self._num_heads)

    def __iter__(self):
        return iter(self._sources)

    def __len__(self):
        return len(self._sources)


# Tokenizer and generation settings ---------------------------------------------


def _read_tokenizer(path):
    tokenizer_path = os.path.join(path, TOKENIZER_FILE)
    if not os.path.isfile(tokenizer_path):
        return None
    return WhisperTokenizer.from_tokenizer_json(tokenizer_path)


def _read_generation(path, config, tokenizer, backbone_config):
    """`WhisperAudioToText` settings from generation_config.json.

    Checkpoints older than generation_config.json keep these settings in
    config.json, which transformers then reads instead.
    """
    settings_path = os.path.join(path, GENERATION_CONFIG_FILE)
    if os.path.isfile(settings_path):
        settings = preset_io.read_json(settings_path)
    else:
        settings_path, settings = os.path.join(path, CONFIG_FILE), config
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
    return vocabulary_size != ENGLISH_ONLY_VOCABULARY_SIZE


def _forced_decoder_ids(settings, settings_path):
    """{prompt position: token id} from the legacy `forced_decoder_ids`."""
    pairs = settings.get("forced_decoder_ids") or []
    try:
        return {int(position): token_id for position, token_id in pairs}
    except (TypeError, ValueError):
        raise preset_io.PresetError(
            f"'{settings_path}': forced_decoder_ids {pairs!r} is not a list of "
            f"[position, token id] pairs."
        )


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
        raise preset_io.PresetError(
            f"'{settings_path}': language {language!r} is not one language."
        )
    code = _language_code(language)
    if languages and f"<|{code}|>" not in languages:
        raise preset_io.PresetError(
            f"'{settings_path}': language {language!r} has no language token "
            f"<|{code}|> in this checkpoint."
        )
    return code


def _language_code(language):
    language = language.strip().lower()
    if language.startswith("<|") and language.endswith("|>"):
        return language[2:-2]
    return LANGUAGE_CODES.get(language, language)


def _stated_task(settings, forced, tokenizer, settings_path):
    task = settings.get("task")
    if task is None:
        if tokenizer is not None:
            task_ids = _task_ids(tokenizer)
        else:
            task_ids = settings.get("task_to_id") or {}
        tasks = {i: name for name, i in task_ids.items()}
        stated = [tasks[i] for i in forced.values() if i in tasks]
        return stated[0] if stated else "transcribe"
    if task not in TASKS:
        raise preset_io.PresetError(
            f"'{settings_path}': task {task!r} is not one of {list(TASKS)}."
        )
    return task


def _task_ids(tokenizer):
    return {
        "transcribe": tokenizer.transcribe_token_id,
        "translate": tokenizer.translate_token_id,
    }


def _token_ids(settings, key, vocabulary_size, settings_path):
    token_ids = settings.get(key)
    if token_ids is None:
        return None
    valid = isinstance(token_ids, (list, tuple)) and all(
        isinstance(i, int) and 0 <= i < vocabulary_size for i in token_ids
    )
    if not valid:
        raise preset_io.PresetError(
            f"'{settings_path}': {key} must be a list of token ids below the "
            f"vocabulary size {vocabulary_size}, got {token_ids!r}."
        )
    return list(token_ids)


# Writing ---------------------------------------------------------------------


def save_transformers_checkpoint(model, path, tokenizer=None):
    """Writes `model` as a Hugging Face transformers Whisper checkpoint.

    The directory gets config.json, model.safetensors (float32), and
    preprocessor_config.json and generation_config.json; with a tokenizer
    also tokenizer.json and tokenizer_config.json. transformers'
    `WhisperForConditionalGeneration.from_pretrained(path)`,
    `AutoTokenizer.from_pretrained(path)` and `pipeline(...)` load it, and
    `generate` then starts from the model's language and task with its
    token suppression. Each file is written atomically; config.json, which
    marks the directory as a checkpoint, is written last.

    Args:
        model: a `WhisperAudioToText`, whose tokenizer, audio converter and
            generation settings are written too, or a `WhisperBackbone`.
        path: the directory to write; created if needed.
        tokenizer: a `WhisperTokenizer` to write with a `WhisperBackbone`.
            Without one, the token ids in the configs are those of OpenAI's
            layouts (English-only for a 51864-token vocabulary, else
            multilingual).

    Example:

    ```python
    from whisper import WhisperAudioToText
    from whisper.transformers_checkpoint import save_transformers_checkpoint

    model = WhisperAudioToText.from_preset("/path/to/preset", language="fr")
    save_transformers_checkpoint(model, "/path/to/transformers_checkpoint")
    ```
    """
    task = _as_audio_to_text(model, tokenizer)
    os.makedirs(path, exist_ok=True)
    _write_weights(task.backbone, os.path.join(path, WEIGHTS_FILE))
    if task.tokenizer is not None:
        preset_io.write_text(
            os.path.join(path, TOKENIZER_FILE), task.tokenizer.to_tokenizer_json()
        )
        preset_io.write_json(os.path.join(path, TOKENIZER_CONFIG_FILE), _tokenizer_config(task))
    preset_io.write_json(
        os.path.join(path, PREPROCESSOR_CONFIG_FILE), _preprocessor_config(task.audio_converter)
    )
    preset_io.write_json(os.path.join(path, GENERATION_CONFIG_FILE), _generation_config(task))
    preset_io.write_json(os.path.join(path, CONFIG_FILE), _transformers_config(task))


def _as_audio_to_text(model, tokenizer):
    if isinstance(model, WhisperAudioToText):
        if tokenizer is not None:
            raise ValueError(
                "`tokenizer` goes with a WhisperBackbone; a WhisperAudioToText "
                "is written with its own tokenizer."
            )
        return model
    if isinstance(model, WhisperBackbone):
        return WhisperAudioToText(model, tokenizer=tokenizer)
    raise TypeError(
        f"Expected a WhisperAudioToText or a WhisperBackbone, got "
        f"{type(model).__name__}."
    )


def _write_weights(backbone, weights_path):
    arrays = keras_hub_arrays(backbone)
    tensors = {
        MODEL_PREFIX + name: np.ascontiguousarray(_to_transformers(layout, arrays[dataset]))
        for name, dataset, layout, _ in _tensor_map(backbone.get_config())
    }
    # No proj_out.weight: with tie_word_embeddings transformers ties it to
    # the token embedding, as its own save_pretrained leaves it out.
    temporary = f"{weights_path}.tmp"
    # transformers refuses safetensors files without a "format" entry.
    safetensors.numpy.save_file(tensors, temporary, metadata={"format": "pt"})
    os.replace(temporary, weights_path)


def _special_ids(task):
    """(start of transcript, end of text) ids."""
    if task.tokenizer is not None:
        return task.tokenizer.bos_token_id, task.tokenizer.eos_token_id
    # OpenAI's layouts put <|startoftranscript|> right after end of text.
    end_of_text = task.end_of_text_id()
    return end_of_text + 1, end_of_text


def _transformers_config(task):
    backbone = task.backbone
    start, end = _special_ids(task)
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": MODEL_TYPE,
        "vocab_size": backbone.vocabulary_size,
        "num_mel_bins": backbone.num_mels,
        "d_model": backbone.hidden_dim,
        "encoder_layers": backbone.num_layers,
        "decoder_layers": backbone.num_decoder_layers or backbone.num_layers,
        "encoder_attention_heads": backbone.num_heads,
        "decoder_attention_heads": backbone.num_heads,
        "encoder_ffn_dim": backbone.intermediate_dim,
        "decoder_ffn_dim": backbone.intermediate_dim,
        "max_source_positions": backbone.max_encoder_sequence_length // 2,
        "max_target_positions": backbone.max_decoder_sequence_length,
        "activation_function": ACTIVATION,
        "scale_embedding": False,
        "tie_word_embeddings": True,
        # Our dropout also drops attention probabilities, never activations.
        "dropout": backbone.dropout,
        "attention_dropout": backbone.dropout,
        "activation_dropout": 0.0,
        "encoder_layerdrop": 0.0,
        "decoder_layerdrop": 0.0,
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "use_cache": True,
        "bos_token_id": start,
        "decoder_start_token_id": start,
        "eos_token_id": end,
        "pad_token_id": end,
        "dtype": "float32",
    }


def _generation_config(task):
    """transformers' Whisper generation settings for `task`'s decoding.

    The suppressed tokens are those `task` suppresses, so both decode alike.
    `language` and `task` supersede the deprecated `forced_decoder_ids`,
    which is left out.
    """
    start, end = _special_ids(task)
    settings = {
        "decoder_start_token_id": start,
        "bos_token_id": start,
        "eos_token_id": end,
        "pad_token_id": end,
        "max_length": task.backbone.max_decoder_sequence_length,
        "suppress_tokens": [int(i) for i in task.suppressed_token_ids()],
        "begin_suppress_tokens": [int(i) for i in task.begin_suppressed_token_ids()],
    }
    tokenizer = task.tokenizer
    if tokenizer is None:
        return settings
    settings["no_timestamps_token_id"] = tokenizer.no_timestamps_token_id
    settings["is_multilingual"] = tokenizer.is_multilingual
    if PREVIOUS_TEXT_TOKEN in tokenizer.special_tokens:
        settings["prev_sot_token_id"] = tokenizer.token_to_id(PREVIOUS_TEXT_TOKEN)
    if tokenizer.is_multilingual:
        settings["lang_to_id"] = dict(tokenizer.language_tokens)
        settings["task_to_id"] = _task_ids(tokenizer)
        settings["task"] = task.task
        if task.language is not None:
            # The token form: transformers finds it in lang_to_id whatever
            # language names it knows.
            settings["language"] = f"<|{_language_code(task.language)}|>"
    return settings


def _tokenizer_config(task):
    """transformers' tokenizer settings; its labels get `task`'s prompt."""
    tokenizer = task.tokenizer
    config = {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": END_OF_TEXT_TOKEN,
        "eos_token": END_OF_TEXT_TOKEN,
        "unk_token": END_OF_TEXT_TOKEN,
        "pad_token": END_OF_TEXT_TOKEN,
        "add_prefix_space": tokenizer.add_prefix_space,
        "model_max_length": task.backbone.max_decoder_sequence_length,
        "errors": "replace",
        "predict_timestamps": False,
    }
    if tokenizer.is_multilingual and task.language is not None:
        config["language"] = _language_code(task.language)
        config["task"] = task.task
    return config


def _preprocessor_config(audio_converter):
    """transformers' WhisperFeatureExtractor settings, equal to the converter's."""
    return {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "processor_class": "WhisperProcessor",
        "feature_size": audio_converter.num_mels,
        "sampling_rate": audio_converter.sampling_rate,
        "hop_length": audio_converter.stride,
        "n_fft": audio_converter.num_fft_bins,
        "chunk_length": audio_converter.max_audio_length,
        "n_samples": audio_converter.num_samples,
        "nb_max_frames": audio_converter.num_samples // audio_converter.stride,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
    }

