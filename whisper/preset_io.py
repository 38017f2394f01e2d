"""Preset handles and the files of keras_hub's preset directory format.

A preset is a directory holding `config.json` (the backbone), `model.weights.h5`,
`tokenizer.json` with `assets/tokenizer/`, `audio_converter.json` and
`metadata.json`. Handles name where such a directory lives: a built-in preset
name, `kaggle://owner/model/framework/variation[/version]`, `hf://owner/name`,
or a local path. Remote handles are downloaded through `kagglehub` or
`huggingface_hub`; offline, loading fails with a message that says to pass a
local directory instead.
"""

import datetime
import os

import keras

from whisper.json_io import read_json
from whisper.json_io import write_json
from whisper.offline import OFFLINE_ENV
from whisper.offline import downloads_disabled

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"
TOKENIZER_CONFIG_FILE = "tokenizer.json"
TOKENIZER_ASSET_DIR = os.path.join("assets", "tokenizer")
AUDIO_CONVERTER_CONFIG_FILE = "audio_converter.json"
TASK_CONFIG_FILE = "task.json"

KERAS_HUB_VERSION = "0.32.0"
# The files of a Hugging Face repository that a preset can need: a keras_hub
# preset, a transformers checkpoint (safetensors, whole or in shards) or a
# CTranslate2 model. OpenAI's repositories also keep their weights as
# pytorch_model.bin, flax_model.msgpack and float32 shards: several times the
# download, none of it read.
HF_DOWNLOAD_PATTERNS = (
    "*.json",
    "*.txt",
    "*.h5",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.bin",
)


class PresetError(ValueError):
    """A preset handle or preset file that cannot be used."""


class PresetDownloadError(OSError):
    """A remote preset that could not be downloaded."""


def keras_hub_name(class_name):
    """The registered name keras_hub gives `class_name`; written into files."""
    return f"keras_hub>{class_name}"


def accepted_names(cls):
    """Registered names a file may carry to build `cls`: keras_hub's and ours."""
    return {
        keras_hub_name(cls.__name__),
        keras.saving.get_registered_name(cls),
    }


def resolve_preset(preset, builtin_presets=None):
    """Returns a local directory for `preset`, downloading a remote handle.

    Args:
        preset: a built-in name (a key of `builtin_presets`), a `kaggle://` or
            `hf://` handle, or a local directory.
        builtin_presets: dict of built-in names to entries with a
            `kaggle_handle` or an `hf_handle`.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise PresetError(
            f"A preset must be a name, a handle or a directory path, got "
            f"{type(preset).__name__} {preset!r}."
        )
    preset = os.fspath(preset)
    builtin_presets = builtin_presets or {}
    if preset in builtin_presets:
        entry = builtin_presets[preset]
        return resolve_preset(entry.get("kaggle_handle") or entry["hf_handle"])
    if preset.startswith("kaggle://"):
        return _download(preset, _kaggle_download)
    if preset.startswith("hf://"):
        return _download(preset, _hf_download)
    if os.path.isdir(preset):
        return preset
    known = ", ".join(sorted(builtin_presets)) or "none"
    raise PresetError(
        f"Preset '{preset}' is not a local directory, a 'kaggle://' or 'hf://' "
        f"handle, or a built-in preset name (built-in: {known})."
    )


def _download(handle, download):
    advice = (
        "Download it on a machine with network access and pass the local "
        "preset directory instead, e.g. from_preset('/path/to/preset')."
    )
    if downloads_disabled():
        raise PresetDownloadError(
            f"Preset '{handle}' is remote and downloads are disabled ({OFFLINE_ENV}=1). {advice}"
        )
    try:
        return download(handle)
    except ImportError:
        raise
    except Exception as error:
        raise PresetDownloadError(
            f"Could not download preset '{handle}': "
            f"{type(error).__name__}: {error}. This machine may be offline. "
            f"{advice}"
        ) from error


def _kaggle_download(handle):
    import kagglehub

    return kagglehub.model_download(handle.removeprefix("kaggle://"))


def _hf_download(handle):
    import huggingface_hub

    return huggingface_hub.snapshot_download(
        handle.removeprefix("hf://"), allow_patterns=list(HF_DOWNLOAD_PATTERNS)
    )


def is_keras_hub_preset(directory):
    """Whether `directory` holds keras_hub's format: config.json with a registered_name."""
    config_path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(config_path):
        return False
    config = read_json(config_path, error=PresetError)
    return isinstance(config, dict) and "registered_name" in config


def write_serialized(path, obj, config, keras_hub_class=True):
    """Writes `obj`'s class and `config` as keras_hub would write it.

    Classes keras_hub also has are written under keras_hub's registered name
    and module so that keras_hub loads the file; the others
    (`keras_hub_class=False`) under ours.
    """
    class_name = type(obj).__name__
    if keras_hub_class:
        module = f"keras_hub.src.models.whisper.{_snake(class_name)}"
        registered_name = keras_hub_name(class_name)
    else:
        module = type(obj).__module__
        registered_name = keras.saving.get_registered_name(type(obj))
    write_json(
        path,
        {
            "module": module,
            "class_name": class_name,
            "config": config,
            "registered_name": registered_name,
        },
    )


def read_serialized(path, cls):
    """Reads the config that `write_serialized` wrote for a `cls` object."""
    data = read_json(path, error=PresetError)
    registered_name = data.get("registered_name")
    allowed = accepted_names(cls)
    if registered_name not in allowed:
        raise PresetError(
            f"'{path}' describes registered_name {registered_name!r}; "
            f"{cls.__name__} loads one of {sorted(allowed)}."
        )
    return data["config"]


def write_metadata(preset_dir, parameter_count):
    write_json(
        os.path.join(preset_dir, METADATA_FILE),
        {
            "keras_version": keras.__version__,
            "keras_hub_version": KERAS_HUB_VERSION,
            "parameter_count": int(parameter_count),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "tasks": [],
        },
    )


def _snake(name):
    return "".join(
        f"_{char.lower()}" if char.isupper() and index else char.lower()
        for index, char in enumerate(name)
    )
