"""Loading a preset, checkpoint or imported model never runs code from it.

Each crafted file here would run code, or build a class other than ours, if a
loader unpickled it or handed it to a Keras deserializer: a Lambda layer
whose function writes a marker file, Keras's `__lambda__` bytecode, a pickle
whose unpickling writes the marker. Every one must be refused with a
`PresetError` whose message names the file, and the marker must not exist
afterwards. A transformers config.json's `auto_map` and `trust_remote_code`
are ignored: transformers is never imported, so the code they name never runs.
"""

import json
import os
import pathlib
import pickle
import re
import shutil
import zipfile

import h5py
import keras
import numpy as np
import pytest

from whisper import preset_io
from whisper.convert import transformers_format
from whisper.preset_io import PresetError
from whisper.preset_io import UnsafePresetError
from whisper.whisper_audio_converter import WhisperAudioConverter
from whisper.whisper_audio_to_text import WhisperAudioToText
from whisper.whisper_backbone import WhisperBackbone
from whisper.whisper_tokenizer import WhisperTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE_PACKAGES = ("whisper", "train", "data_pipelines")
BACKBONE_CONFIG = {
    "vocabulary_size": 16,
    "num_layers": 1,
    "num_heads": 2,
    "hidden_dim": 8,
    "intermediate_dim": 16,
    "max_encoder_sequence_length": 20,
    "max_decoder_sequence_length": 12,
}
TOKENIZER_ARGUMENTS = {
    "vocabulary": {"a": 0, "b": 1, "ab": 2, "Ġ": 3},
    "merges": ["a b"],
    "special_tokens": {
        "<|endoftext|>": 4,
        "<|startoftranscript|>": 5,
        "<|translate|>": 6,
        "<|transcribe|>": 7,
        "<|notimestamps|>": 8,
    },
}
WEIGHTS = preset_io.MODEL_WEIGHTS_FILE


# Payloads ---------------------------------------------------------------------


class MarkerPickle:
    """Unpickling this object calls `open(marker, "w")`: a real code payload."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_pickle(path, marker):
    path.write_bytes(pickle.dumps(MarkerPickle(marker)))


def write_torch_zip(path, marker):
    # PyTorch's format since 1.6: a zip whose data.pkl is the pickle.
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(MarkerPickle(marker)))


def serialized_lambda(marker):
    """A Lambda layer whose function writes `marker`, as Keras serializes it."""
    layer = keras.layers.Lambda(lambda x, path=str(marker): open(path, "w") and x)
    return json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))


def lambda_bytecode(marker):
    """Keras's `{"class_name": "__lambda__", ...}`: a function's marshalled code."""
    return serialized_lambda(marker)["config"]["function"]


# Presets ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def preset_source(tmp_path_factory):
    """A valid keras_hub-format preset: every crafted one is a copy with one change."""
    directory = tmp_path_factory.mktemp("valid_preset")
    keras.utils.set_random_seed(0)
    model = WhisperAudioToText(
        WhisperBackbone(**BACKBONE_CONFIG), tokenizer=WhisperTokenizer(**TOKENIZER_ARGUMENTS)
    )
    model.save_to_preset(str(directory))
    return directory


@pytest.fixture
def preset(preset_source, tmp_path):
    directory = tmp_path / "preset"
    shutil.copytree(preset_source, directory)
    return directory


@pytest.fixture(scope="module")
def transformers_source(tmp_path_factory):
    """A valid transformers checkpoint; without a tokenizer it needs OpenAI's vocabulary size."""
    directory = tmp_path_factory.mktemp("valid_transformers")
    keras.utils.set_random_seed(0)
    backbone = WhisperBackbone(**{**BACKBONE_CONFIG, "vocabulary_size": 51865})
    WhisperAudioToText(backbone).save_to_transformers(str(directory))
    return directory


@pytest.fixture
def transformers_checkpoint(transformers_source, tmp_path):
    directory = tmp_path / "transformers"
    shutil.copytree(transformers_source, directory)
    return directory


@pytest.fixture
def marker(tmp_path):
    """Where a payload would write; it must never exist."""
    return tmp_path / "payload_ran"


def read_json(path):
    return json.loads(path.read_text())


def write_json(path, data):
    path.write_text(json.dumps(data))


def assert_refused(load, directory, path, marker, error=PresetError):
    """`load(directory)` raises `error` naming the file `path`, and no payload ran."""
    with pytest.raises(error) as caught:
        load(directory)
    assert str(path) in str(caught.value), caught.value
    assert not marker.exists()
    return caught.value


def test_payloads_are_live(tmp_path, marker):
    # The refusals below mean something only if these payloads do run.
    with pickle.loads(pickle.dumps(MarkerPickle(marker))):
        pass
    assert marker.exists()


def test_the_valid_preset_loads(preset):
    model = WhisperAudioToText.from_preset(preset)
    assert model.tokenizer("ab") == [2]


# config.json, task.json, audio_converter.json, tokenizer.json -------------------

SERIALIZED_FILES = (
    preset_io.CONFIG_FILE,
    preset_io.TASK_CONFIG_FILE,
    preset_io.AUDIO_CONVERTER_CONFIG_FILE,
    preset_io.TOKENIZER_CONFIG_FILE,
)


@pytest.mark.parametrize("file_name", SERIALIZED_FILES)
def test_a_serialized_lambda_layer_in_place_of_the_file_is_refused(preset, marker, file_name):
    path = preset / file_name
    write_json(path, serialized_lambda(marker))
    message = assert_refused(WhisperAudioToText.from_preset, preset, path, marker)
    assert "no other class is ever built" in str(message)


@pytest.mark.parametrize("file_name", SERIALIZED_FILES)
@pytest.mark.parametrize(
    "top_level",
    [
        {"registered_name": "keras>Lambda"},
        {"registered_name": None, "module": "keras.layers", "class_name": "Lambda"},
        # Our registered name but another class: the class_name is checked too.
        {"module": "keras.layers", "class_name": "Lambda"},
    ],
    ids=["registered_name", "keras_class", "class_name"],
)
def test_another_class_is_refused(preset, marker, file_name, top_level):
    path = preset / file_name
    write_json(path, {**read_json(path), **top_level})
    assert_refused(WhisperAudioToText.from_preset, preset, path, marker)


# A key each file's class takes: a serialized object there is refused too.
TAKEN_KEYS = {
    preset_io.CONFIG_FILE: "hidden_dim",
    preset_io.TASK_CONFIG_FILE: "language",
    preset_io.AUDIO_CONVERTER_CONFIG_FILE: "num_mels",
    preset_io.TOKENIZER_CONFIG_FILE: "sequence_length",
}


@pytest.mark.parametrize("file_name", SERIALIZED_FILES)
@pytest.mark.parametrize("payload", [serialized_lambda, lambda_bytecode], ids=["layer", "bytecode"])
def test_a_serialized_object_in_a_config_value_is_refused(preset, marker, file_name, payload):
    path = preset / file_name
    data = read_json(path)
    data["config"][TAKEN_KEYS[file_name]] = payload(marker)
    write_json(path, data)
    message = assert_refused(
        WhisperAudioToText.from_preset, preset, path, marker, UnsafePresetError
    )
    assert TAKEN_KEYS[file_name] in str(message)


@pytest.mark.parametrize(
    "file_name", [name for name in SERIALIZED_FILES if name != preset_io.TASK_CONFIG_FILE]
)
@pytest.mark.parametrize("payload", [serialized_lambda, lambda_bytecode], ids=["layer", "bytecode"])
def test_a_dtype_that_is_not_a_plain_policy_is_refused(preset, marker, file_name, payload):
    path = preset / file_name
    data = read_json(path)
    data["config"]["dtype"] = payload(marker)
    write_json(path, data)
    message = assert_refused(
        WhisperAudioToText.from_preset, preset, path, marker, UnsafePresetError
    )
    assert "DTypePolicy" in str(message)


def test_a_nested_serialized_object_is_refused(preset, marker):
    path = preset / preset_io.TOKENIZER_CONFIG_FILE
    data = read_json(path)
    data["config"]["special_tokens"]["<|endoftext|>"] = lambda_bytecode(marker)
    write_json(path, data)
    message = assert_refused(
        WhisperAudioToText.from_preset, preset, path, marker, UnsafePresetError
    )
    assert "special_tokens" in str(message) and "__lambda__" in str(message)


@pytest.mark.parametrize(
    "file_name, key",
    [
        # Keys that Keras's base constructors would deserialize, or ours would
        # take as objects, are not constructor arguments of the file's class.
        (preset_io.CONFIG_FILE, "kernel_initializer"),
        (preset_io.TASK_CONFIG_FILE, "backbone"),
        (preset_io.AUDIO_CONVERTER_CONFIG_FILE, "activity_regularizer"),
        (preset_io.TOKENIZER_CONFIG_FILE, "function"),
    ],
)
def test_keys_the_class_does_not_take_are_refused(preset, marker, file_name, key):
    path = preset / file_name
    data = read_json(path)
    data["config"][key] = serialized_lambda(marker)
    write_json(path, data)
    message = assert_refused(WhisperAudioToText.from_preset, preset, path, marker)
    assert key in str(message) and "allowed" in str(message)


@pytest.mark.parametrize(
    "load, file_name",
    [
        (WhisperBackbone.from_preset, preset_io.CONFIG_FILE),
        (WhisperAudioConverter.from_preset, preset_io.AUDIO_CONVERTER_CONFIG_FILE),
        (WhisperTokenizer.from_preset, preset_io.TOKENIZER_CONFIG_FILE),
    ],
)
def test_each_part_refuses_on_its_own(preset, marker, load, file_name):
    path = preset / file_name
    data = read_json(path)
    data["config"]["dtype"] = lambda_bytecode(marker)
    write_json(path, data)
    assert_refused(load, preset, path, marker, UnsafePresetError)


@pytest.mark.parametrize("config_file", ["../outside.json", "/tmp/outside.json"])
def test_a_tokenizer_config_file_with_a_directory_is_refused(preset, marker, config_file):
    # save_to_preset writes preset_dir/config_file: it must stay in the preset.
    path = preset / preset_io.TOKENIZER_CONFIG_FILE
    data = read_json(path)
    data["config"]["config_file"] = config_file
    write_json(path, data)
    assert_refused(WhisperTokenizer.from_preset, preset, path, marker)


def test_a_keras_config_naming_another_class_is_refused(preset_source, marker):
    model = WhisperAudioToText.from_preset(preset_source, load_weights=False)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    config["config"]["backbone"] = serialized_lambda(marker)
    with pytest.raises(ValueError, match="'backbone' registered_name None"):
        keras.saving.deserialize_keras_object(config)
    assert not marker.exists()


# Pickled weights --------------------------------------------------------------


def test_a_directory_of_only_a_pickle_is_refused(tmp_path, marker):
    directory = tmp_path / "pickled"
    directory.mkdir()
    write_pickle(directory / "pytorch_model.bin", marker)
    for load in (WhisperBackbone.from_preset, WhisperAudioToText.from_preset):
        assert_refused(load, directory, directory / "pytorch_model.bin", marker, UnsafePresetError)


def test_a_transformers_checkpoint_with_pickled_weights_is_refused(transformers_checkpoint, marker):
    os.remove(transformers_checkpoint / transformers_format.WEIGHTS_FILE)
    pickled = transformers_checkpoint / "pytorch_model.bin"
    write_pickle(pickled, marker)
    message = assert_refused(
        WhisperAudioToText.from_preset,
        transformers_checkpoint,
        pickled,
        marker,
        UnsafePresetError,
    )
    assert "safe_serialization=True" in str(message)


def test_shards_outside_the_checkpoint_are_refused(transformers_checkpoint, tmp_path, marker):
    outside = tmp_path / "outside"
    outside.mkdir()
    weights = transformers_checkpoint / transformers_format.WEIGHTS_FILE
    shutil.move(weights, outside / weights.name)
    index = transformers_checkpoint / transformers_format.WEIGHTS_INDEX_FILE
    write_json(index, {"weight_map": {"model.decoder.embed_tokens.weight": "../outside/x"}})
    assert_refused(WhisperBackbone.from_preset, transformers_checkpoint, index, marker)


def test_a_keras_hub_preset_with_pickled_weights_is_refused(preset, marker):
    os.remove(preset / WEIGHTS)
    pickled = preset / "model.weights.pt"
    write_pickle(pickled, marker)
    assert_refused(WhisperBackbone.from_preset, preset, pickled, marker, UnsafePresetError)


@pytest.mark.parametrize("write", [write_pickle, write_torch_zip], ids=["pickle", "torch_zip"])
def test_a_pickle_named_as_readable_weights_is_refused(
    preset, transformers_checkpoint, tmp_path, marker, write
):
    ctranslate2 = tmp_path / "ctranslate2"
    ctranslate2.mkdir()
    disguised = [
        preset / WEIGHTS,
        transformers_checkpoint / transformers_format.WEIGHTS_FILE,
        ctranslate2 / "model.bin",
    ]
    for path in disguised:
        write(path, marker)
        assert_refused(WhisperBackbone.from_preset, path.parent, path, marker)


# model.weights.h5 -------------------------------------------------------------


def add_to_weights(preset, add):
    with h5py.File(preset / WEIGHTS, "a") as file:
        add(file)


def a_weight_name(preset):
    names = []
    with h5py.File(preset / WEIGHTS, "r") as file:
        file.visititems(
            lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None
        )
    return names[0]


def test_pickle_bytes_in_an_extra_dataset_are_refused(preset, marker):
    payload = np.void(pickle.dumps(MarkerPickle(marker)))
    add_to_weights(preset, lambda file: file.create_dataset("payload", data=payload))
    message = assert_refused(WhisperBackbone.from_preset, preset, preset / WEIGHTS, marker)
    assert "'payload'" in str(message)


def test_an_extra_numeric_dataset_is_refused(preset, marker):
    add_to_weights(preset, lambda file: file.create_dataset("layers/extra/vars/0", data=[1.0]))
    message = assert_refused(WhisperBackbone.from_preset, preset, preset / WEIGHTS, marker)
    assert "1 unexpected datasets ['layers/extra/vars/0']" in str(message)


def test_a_weight_of_strings_is_refused(preset, marker):
    name = a_weight_name(preset)

    def replace(file):
        shape = file[name].shape
        del file[name]
        file.create_dataset(name, shape=shape, dtype=h5py.string_dtype())

    add_to_weights(preset, replace)
    message = assert_refused(WhisperBackbone.from_preset, preset, preset / WEIGHTS, marker)
    assert name in str(message) and "float or integer" in str(message)


def test_a_weight_needing_a_filter_plugin_is_refused(preset, marker):
    # Reading it would make HDF5 look for a shared library to load.
    name = a_weight_name(preset)

    def replace(file):
        values = file[name][()]
        del file[name]
        file.create_dataset(name, data=values, compression=32001, allow_unknown_filter=True)

    add_to_weights(preset, replace)
    message = assert_refused(WhisperBackbone.from_preset, preset, preset / WEIGHTS, marker)
    assert "filter plugins [32001]" in str(message)


def test_a_weight_stored_in_another_file_is_refused(preset, tmp_path, marker):
    name = a_weight_name(preset)
    outside = tmp_path / "outside.raw"

    def replace(file):
        values = file[name][()]
        outside.write_bytes(values.tobytes())
        del file[name]
        file.create_dataset(
            name,
            shape=values.shape,
            dtype=values.dtype,
            external=[(str(outside), 0, values.nbytes)],
        )

    add_to_weights(preset, replace)
    message = assert_refused(WhisperBackbone.from_preset, preset, preset / WEIGHTS, marker)
    assert "outside the file" in str(message)


def test_attributes_and_links_are_never_read(preset, tmp_path, marker):
    # Extra attributes, groups and links carry no weights: loading ignores them.
    def add(file):
        file.attrs["payload"] = np.void(pickle.dumps(MarkerPickle(marker)))
        file.create_group("empty")
        file["external"] = h5py.ExternalLink(str(tmp_path / "absent.h5"), "/weights")

    add_to_weights(preset, add)
    WhisperBackbone.from_preset(preset)
    assert not marker.exists()


# transformers' remote code ------------------------------------------------------


def test_auto_map_and_trust_remote_code_are_ignored(transformers_checkpoint, marker):
    # transformers would import modeling_payload.py for auto_map with
    # trust_remote_code; nothing here imports transformers or the checkpoint's files.
    (transformers_checkpoint / "modeling_payload.py").write_text(
        f"open({str(marker)!r}, 'w')\nclass PayloadModel: pass\n"
    )
    config_path = transformers_checkpoint / transformers_format.CONFIG_FILE
    config = read_json(config_path)
    config["auto_map"] = {"AutoModelForSpeechSeq2Seq": "modeling_payload.PayloadModel"}
    config["trust_remote_code"] = True
    write_json(config_path, config)
    model = WhisperAudioToText.from_preset(transformers_checkpoint)
    assert model.backbone.num_layers == BACKBONE_CONFIG["num_layers"]
    assert not marker.exists()


# The sources -------------------------------------------------------------------

# Calls that load code from files or turn Keras's safe mode off.
UNSAFE_CALLS = re.compile(
    r"enable_unsafe_deserialization|safe_mode\s*=\s*False|allow_pickle\s*=\s*True"
    r"|torch\.load|pickle\.loads?\(|trust_remote_code\s*=\s*True|keras\.(saving|models)\.load_model"
    r"|(?<![\w.])(eval|exec)\("
)


def test_no_source_loads_code_or_disables_safe_mode():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in SOURCE_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNSAFE_CALLS.search(line)
    ]
    assert not found, "\n".join(found)
