"""The files of keras_hub's preset directory format.

A preset is a directory holding `config.json` (the backbone), `model.weights.h5`,
`tokenizer.json` with `assets/tokenizer/`, `audio_converter.json` and
`metadata.json`. `whisper.preset_handles` finds the directory a preset name
or handle stands for.
"""

import datetime
import fnmatch
import inspect
import os

import keras

from whisper.preset_handles import PresetError
from whisper.utils.json_io import read_json
from whisper.utils.json_io import write_json
from whisper.whisper_presets import LAYER_CONFIG_KEYS

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"
TOKENIZER_CONFIG_FILE = "tokenizer.json"
TOKENIZER_ASSET_DIR = os.path.join("assets", "tokenizer")
AUDIO_CONVERTER_CONFIG_FILE = "audio_converter.json"
TASK_CONFIG_FILE = "task.json"

KERAS_HUB_VERSION = "0.32.0"

# The only serialized object a config may hold: `dtype` as a plain policy, as
# Keras and keras_hub write it. It is read as its name, so nothing from a file
# reaches a Keras deserializer, which can build any Keras class (a Lambda too).
DTYPE_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy")
DTYPE_POLICY_KEYS = ("module", "class_name", "config", "registered_name")
# Files that only a code-running loader reads: pickles (PyTorch's
# pytorch_model.bin and *.pt, joblib) and whole Keras models, whose config may
# hold a Lambda's bytecode. None is ever opened; they are named only to say
# why a directory holding them instead of readable weights is refused.
# CTranslate2's model.bin is no pickle: its reader parses it itself.
UNSAFE_FILE_PATTERNS = (
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.pkl",
    "*.pickle",
    "*.joblib",
    "*.keras",
)
SAFE_BIN_FILES = ("model.bin",)


class UnsafePresetError(PresetError):
    """A preset file that could run code or build other classes if loaded.

    Raised before anything of it is deserialized or unpickled.
    """


def keras_hub_name(class_name):
    """The registered name keras_hub gives `class_name`; written into files."""
    return f"keras_hub>{class_name}"


def accepted_names(cls):
    """Registered names a file may carry to build `cls`: keras_hub's and ours."""
    return {
        keras_hub_name(cls.__name__),
        keras.saving.get_registered_name(cls),
    }


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


def read_serialized(path, cls, allowed_keys=None):
    """Reads the config that `write_serialized` wrote for a `cls` object.

    The file is data, never code: it must name `cls` (its `module` is never
    imported), its config may hold only `allowed_keys` (by default `cls`'s
    constructor arguments and `LAYER_CONFIG_KEYS`), and no value may be a
    serialized object but a plain dtype policy, which is returned as its name.

    Raises:
        PresetError: the file is not JSON, names another class or has other
            keys; `UnsafePresetError` when a value is a serialized object.
    """
    data = read_json(path, error=PresetError)
    if not isinstance(data, dict):
        raise PresetError(
            f"'{path}' holds a JSON {type(data).__name__}, not a serialized {cls.__name__}."
        )
    _check_class(path, data, cls)
    config = data.get("config")
    if not isinstance(config, dict):
        raise PresetError(f"'{path}' has no 'config' object of {cls.__name__}'s arguments.")
    allowed = set(allowed_keys or constructor_keys(cls))
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise PresetError(
            f"'{path}' has config keys {unknown} that {cls.__name__} does not take; "
            f"allowed: {sorted(allowed)}."
        )
    config = dict(config)
    if "dtype" in config:
        config["dtype"] = _dtype_name(path, config["dtype"])
    _refuse_serialized_objects(path, config, "config")
    return config


def constructor_keys(cls):
    """The config keys a file may give `cls`: its named constructor arguments."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    named = {
        parameter.name
        for parameter in parameters
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    }
    return (named - {"self"}) | set(LAYER_CONFIG_KEYS)


def _check_class(path, data, cls):
    registered_name = data.get("registered_name")
    allowed = accepted_names(cls)
    if registered_name not in allowed:
        raise PresetError(
            f"'{path}' describes registered_name {registered_name!r}; "
            f"{cls.__name__} loads one of {sorted(allowed)}, and no other "
            f"class is ever built from a preset file."
        )
    class_name = data.get("class_name", cls.__name__)
    if class_name != cls.__name__:
        raise PresetError(
            f"'{path}' describes class_name {class_name!r} under registered_name "
            f"{registered_name!r}; {cls.__name__} loads only class_name {cls.__name__!r}."
        )


def _dtype_name(path, dtype):
    """A dtype name, from a name or a plain serialized `DTypePolicy`."""
    if dtype is None or isinstance(dtype, str):
        return dtype
    policy_config = dtype.get("config") if isinstance(dtype, dict) else None
    plain_policy = (
        isinstance(policy_config, dict)
        and set(dtype) <= set(DTYPE_POLICY_KEYS)
        and dtype.get("class_name") in DTYPE_POLICY_CLASSES
        and str(dtype.get("module", "keras")).startswith("keras")
        and dtype.get("registered_name") is None
        and set(policy_config) == {"name"}
        and isinstance(policy_config["name"], str)
    )
    if not plain_policy:
        raise UnsafePresetError(
            f"'{path}': config entry 'dtype' is {_describe(dtype)}; allowed are a "
            f"dtype name such as 'float32' or a serialized DTypePolicy "
            f"{{'module': 'keras', 'class_name': 'DTypePolicy', "
            f"'config': {{'name': ...}}, 'registered_name': None}}."
        )
    return policy_config["name"]


def _refuse_serialized_objects(path, value, where):
    """Raises `UnsafePresetError` if `value` holds a serialized Keras object.

    Keras deserializes any dict with a `class_name` (a layer, a Lambda's
    bytecode as `__lambda__`, an initializer); a preset's values are plain
    numbers, strings, lists and token tables.
    """
    if isinstance(value, dict):
        if "class_name" in value:
            raise UnsafePresetError(
                f"'{path}': {where} is {_describe(value)}; preset files hold only "
                f"plain values (numbers, strings, lists, token tables) and a dtype "
                f"name, so no class or code of a file is ever loaded."
            )
        for key, item in value.items():
            _refuse_serialized_objects(path, item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_serialized_objects(path, item, f"{where}[{index}]")


def _describe(value):
    if isinstance(value, dict) and "class_name" in value:
        return f"a serialized {value['class_name']!r} object"
    return f"a JSON {type(value).__name__}"


def unsafe_files(directory):
    """The files of `directory` that only a code-running loader (pickle) reads."""
    if not os.path.isdir(directory):
        return []
    return [
        os.path.join(directory, name)
        for name in sorted(os.listdir(directory))
        if name not in SAFE_BIN_FILES
        and any(fnmatch.fnmatch(name, pattern) for pattern in UNSAFE_FILE_PATTERNS)
    ]


def refuse_unsafe_files(directory, readable):
    """Raises `UnsafePresetError` naming `directory`'s pickle files, if any.

    Called where `directory` lacks the weights a format needs, so that a
    checkpoint holding only pickles says why it is refused; `readable` says
    what would be read instead.
    """
    found = unsafe_files(directory)
    if found:
        names = ", ".join(f"'{path}'" for path in found)
        raise UnsafePresetError(
            f"{names}: pickled weights or a whole Keras model, never loaded because "
            f"loading them can run code stored in the file. Read here: {readable}."
        )


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
