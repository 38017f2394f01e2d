"""The tokenizer's files: keras_hub's preset assets and Hugging Face's
`tokenizer.json`, read into `WhisperTokenizer`'s constructor arguments and
written from them.

- keras_hub: `tokenizer.json` (a Keras config) beside
  `assets/tokenizer/vocabulary.json` and `merges.txt`.
- Hugging Face (transformers checkpoints, CTranslate2 models): one
  `tokenizer.json` holding the BPE model and the added tokens.
"""

import os
import re

from whisper.preset_handles import PresetError
from whisper.preset_io import TOKENIZER_ASSET_DIR
from whisper.preset_io import TOKENIZER_CONFIG_FILE
from whisper.special_tokens import END_OF_TEXT_TOKEN
from whisper.special_tokens import ENGLISH_ONLY_END_OF_TEXT_ID
from whisper.utils.json_io import read_json
from whisper.utils.json_io import write_json
from whisper.utils.json_io import write_text

VOCABULARY_FILE = "vocabulary.json"
MERGES_FILE = "merges.txt"
HF_TOKENIZER_FILE = "tokenizer.json"
# Both vocabularies list the same language tokens in a Hugging Face
# tokenizer.json, so only the <|endoftext|> id tells which kind of model the
# file belongs to (see whisper.special_tokens).
LANGUAGE_TOKEN = re.compile(r"<\|[a-z]{2,3}\|>")


def read_hf_tokenizer_json(path, multilingual=None):
    """`WhisperTokenizer` arguments from a Hugging Face `tokenizer.json` (a
    file, or a directory holding one); see `WhisperTokenizer.from_tokenizer_json`."""
    if os.path.isdir(path):
        path = os.path.join(path, HF_TOKENIZER_FILE)
    data = _read_bpe_tokenizer_json(path)
    added = {token["content"]: token["id"] for token in data.get("added_tokens", [])}
    languages = {t: i for t, i in added.items() if LANGUAGE_TOKEN.fullmatch(t)}
    special_tokens = {t: i for t, i in added.items() if t not in languages}
    if multilingual is None:
        multilingual = bool(languages) and (
            special_tokens.get(END_OF_TEXT_TOKEN) != ENGLISH_ONLY_END_OF_TEXT_ID
        )
    if multilingual and not languages:
        raise ValueError(f"'{path}' lists no language tokens such as <|en|>.")
    pre_tokenizer = data.get("pre_tokenizer") or {}
    return {
        "vocabulary": data["model"]["vocab"],
        # Strings or pairs, by the file's version; `load_merges` takes both.
        "merges": data["model"]["merges"],
        "special_tokens": special_tokens,
        "language_tokens": languages if multilingual else None,
        "add_prefix_space": pre_tokenizer.get("add_prefix_space", False),
    }


def write_keras_hub_assets(preset_dir, config_file, vocabulary, merges):
    """Writes the vocabulary and merges where keras_hub keeps them for the
    tokenizer whose config is `preset_dir/config_file`."""
    asset_dir = os.path.join(preset_dir, _asset_dir(config_file))
    os.makedirs(asset_dir, exist_ok=True)
    write_json(os.path.join(asset_dir, VOCABULARY_FILE), vocabulary, indent=None)
    write_text(os.path.join(asset_dir, MERGES_FILE), "".join(f"{merge}\n" for merge in merges))


def keras_hub_assets(preset_dir, config_file, preset):
    """{"vocabulary": path, "merges": path} of a keras_hub preset's tokenizer."""
    asset_dir = os.path.join(preset_dir, _asset_dir(config_file))
    return {
        "vocabulary": _existing_asset(asset_dir, VOCABULARY_FILE, preset),
        "merges": _existing_asset(asset_dir, MERGES_FILE, preset),
    }


def load_json_dict(dict_or_path, argument):
    """A constructor argument given as a dict or as a JSON file's path."""
    if isinstance(dict_or_path, (str, os.PathLike)):
        dict_or_path = read_json(dict_or_path)
    if not isinstance(dict_or_path, dict):
        raise ValueError(
            f"`{argument}` must be a dict or the path of a JSON file holding "
            f"one, got {type(dict_or_path).__name__}."
        )
    return dict(dict_or_path)


def load_merges(merges):
    """Merge rules given as a list (of strings or pairs) or a merges.txt path."""
    if isinstance(merges, (str, os.PathLike)):
        with open(merges, encoding="utf-8") as file:
            merges = [line.rstrip() for line in file]
    return [m if isinstance(m, str) else " ".join(m) for m in merges if m]


def is_hf_tokenizer_json(path):
    """Whether `path` is Hugging Face's tokenizer.json (a `model` of the
    tokens), not keras_hub's file of the same name (a Keras config)."""
    if not os.path.isfile(path):
        return False
    data = read_json(path, error=PresetError)
    return isinstance(data, dict) and "model" in data and "registered_name" not in data


def _asset_dir(config_file):
    # keras_hub names the asset folder after the config file:
    # tokenizer.json -> assets/tokenizer.
    assets_root = os.path.dirname(TOKENIZER_ASSET_DIR)
    return os.path.join(assets_root, config_file.split(".")[0])


def check_config_file_name(path, config_file):
    # `save_to_preset` writes to preset_dir/config_file: a path there would
    # let a crafted file make a later save write outside the preset.
    if not isinstance(config_file, str) or os.path.basename(config_file) != config_file:
        raise PresetError(
            f"'{path}' sets config_file {config_file!r}; it must be a file name "
            f"such as '{TOKENIZER_CONFIG_FILE}', without a directory."
        )


def _existing_asset(asset_dir, file_name, preset):
    path = os.path.join(asset_dir, file_name)
    if not os.path.isfile(path):
        raise PresetError(f"Preset '{preset}' lacks the tokenizer asset '{path}'.")
    return path


def _read_bpe_tokenizer_json(path):
    data = read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise ValueError(
            f"'{path}' is not a Hugging Face tokenizer.json with a BPE model. "
            f"A keras_hub preset's tokenizer.json loads with "
            f"WhisperTokenizer.from_preset(preset_dir)."
        )
    return data
