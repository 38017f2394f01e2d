import json
import os

import keras
import numpy as np
import pytest

from whisper import preset_handles
from whisper import preset_io
from whisper.utils.offline import OFFLINE_ENV
from whisper.whisper_backbone import WhisperBackbone
from whisper.whisper_encoder import sinusoid_table

SMALL_CONFIG = {
    "vocabulary_size": 100,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 8,
    "intermediate_dim": 16,
    "max_encoder_sequence_length": 20,
    "max_decoder_sequence_length": 12,
}

# whisper-facts.md: the built-in architectures and their true parameter counts.
FACTS = {
    "whisper_tiny_en": (51864, 4, 6, 384, 1536, 37_760_256),
    "whisper_base_en": (51864, 6, 8, 512, 2048, 72_593_408),
    "whisper_small_en": (51864, 12, 12, 768, 3072, 241_734_144),
    "whisper_medium_en": (51864, 24, 16, 1024, 4096, 763_856_896),
    "whisper_tiny_multi": (51865, 4, 6, 384, 1536, 37_760_640),
    "whisper_base_multi": (51865, 6, 8, 512, 2048, 72_593_920),
    "whisper_small_multi": (51865, 12, 12, 768, 3072, 241_734_912),
    "whisper_medium_multi": (51865, 24, 16, 1024, 4096, 763_857_920),
    "whisper_large_multi": (51865, 32, 20, 1280, 5120, 1_543_304_960),
    "whisper_large_multi_v2": (51865, 32, 20, 1280, 5120, 1_543_304_960),
}


def random_inputs(batch=2, frames=20, length=12, num_mels=80, vocabulary=100, seed=0):
    rng = np.random.default_rng(seed)
    padding_mask = np.ones((batch, length), "int32")
    padding_mask[-1, length - 3 :] = 0
    return {
        "encoder_features": rng.normal(size=(batch, frames, num_mels)).astype("float32"),
        "decoder_token_ids": rng.integers(0, vocabulary, (batch, length)).astype("int32"),
        "decoder_padding_mask": padding_mask,
    }


def max_difference(a, b):
    return max(
        float(np.max(np.abs(np.asarray(a[key], "float32") - np.asarray(b[key], "float32"))))
        for key in ("encoder_sequence_output", "decoder_sequence_output")
    )


def test_seed_page_example_runs_as_written():
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
    outputs = model(input_data)
    assert outputs["encoder_sequence_output"].shape == (1, 6, 256)
    assert outputs["decoder_sequence_output"].shape == (1, 12, 256)


def test_inputs_and_outputs_follow_keras_hubs_contract():
    model = WhisperBackbone(**SMALL_CONFIG)
    assert sorted(model.input) == [
        "decoder_padding_mask",
        "decoder_token_ids",
        "encoder_features",
    ]
    outputs = model(random_inputs(frames=19))
    # ceil(19 / 2) encoder positions: the stride-2 convolution sees one pad
    # frame on each side.
    assert outputs["encoder_sequence_output"].shape == (2, 10, 8)
    assert outputs["decoder_sequence_output"].shape == (2, 12, 8)


def test_padded_tokens_do_not_change_real_positions():
    model = WhisperBackbone(**SMALL_CONFIG)
    inputs = random_inputs(batch=1)
    inputs["decoder_padding_mask"][0, 8:] = 0
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["decoder_token_ids"][0, 8:] = (changed["decoder_token_ids"][0, 8:] + 1) % 100
    a = model(inputs)["decoder_sequence_output"][0, :8]
    b = model(changed)["decoder_sequence_output"][0, :8]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_decoder_is_causal():
    model = WhisperBackbone(**SMALL_CONFIG)
    inputs = random_inputs(batch=1)
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["decoder_token_ids"][0, 6:] = 7
    a = model(inputs)["decoder_sequence_output"][0, :6]
    b = model(changed)["decoder_sequence_output"][0, :6]
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("hidden_dim", [2, 3, 5])
def test_the_narrowest_and_odd_widths_give_finite_outputs(hidden_dim):
    # keras_hub's own test model (hidden 2, one head): its encoder positions
    # are a stored table with no formula, so any width works there too.
    model = WhisperBackbone(
        vocabulary_size=10, num_layers=1, num_heads=1, hidden_dim=hidden_dim, intermediate_dim=4
    )
    outputs = model(random_inputs(vocabulary=10))
    for name, value in outputs.items():
        assert value.shape[-1] == hidden_dim and np.isfinite(np.asarray(value)).all(), name


def test_encoder_positions_follow_openais_formula():
    # Rates 10000 ** (-i / (channels / 2 - 1)): for 4 channels, 1 and 1e-4.
    expected = [[0, 0, 1, 1], [np.sin(1), np.sin(1e-4), np.cos(1), np.cos(1e-4)]]
    np.testing.assert_allclose(sinusoid_table(2, 4), expected, rtol=1e-6)
    narrow = sinusoid_table(2, 3)  # one pair at rate 1, then zeros
    np.testing.assert_allclose(narrow, [[0, 1, 0], [np.sin(1), np.cos(1), 0]], rtol=1e-6)


def test_get_config_round_trip_gives_the_same_model():
    model = WhisperBackbone(**SMALL_CONFIG, num_decoder_layers=1, num_mels=128)
    config = json.loads(json.dumps(model.get_config()))
    for key, value in {**SMALL_CONFIG, "num_decoder_layers": 1, "num_mels": 128}.items():
        assert config[key] == value
    restored = WhisperBackbone.from_config(config)
    restored.set_weights(model.get_weights())
    inputs = random_inputs(num_mels=128)
    assert max_difference(model(inputs), restored(inputs)) == 0.0


def test_keras_native_saving_round_trip(tmp_path):
    model = WhisperBackbone(**SMALL_CONFIG)
    path = str(tmp_path / "backbone.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, WhisperBackbone)
    inputs = random_inputs()
    assert max_difference(model(inputs), restored(inputs)) == 0.0


def test_separate_decoder_depth_and_128_mels():
    model = WhisperBackbone(**SMALL_CONFIG, num_decoder_layers=1, num_mels=128)
    assert len(model.encoder.transformer_layers) == 2
    assert len(model.decoder.transformer_layers) == 1
    outputs = model(random_inputs(num_mels=128))
    assert outputs["decoder_sequence_output"].shape == (2, 12, 8)


def test_presets_list_the_ten_keras_hub_architectures_and_more():
    for name, (vocab, layers, heads, hidden, intermediate, params) in FACTS.items():
        preset = WhisperBackbone.presets[name]
        assert preset["kaggle_handle"] == f"kaggle://keras/whisper/keras/{name}/4"
        assert preset["metadata"]["params"] == params
        config = preset["config"]
        assert (
            config["vocabulary_size"],
            config["num_layers"],
            config["num_heads"],
            config["hidden_dim"],
            config["intermediate_dim"],
        ) == (vocab, layers, heads, hidden, intermediate)
        assert config["num_mels"] == 80
        assert config["max_encoder_sequence_length"] == 3000
        assert config["max_decoder_sequence_length"] == 448
    v3 = WhisperBackbone.presets["whisper_large_multi_v3"]["config"]
    assert (v3["num_mels"], v3["vocabulary_size"]) == (128, 51866)
    turbo = WhisperBackbone.presets["whisper_large_multi_v3_turbo"]["config"]
    assert (turbo["num_layers"], turbo["num_decoder_layers"]) == (32, 4)


@pytest.mark.parametrize("name", ["whisper_tiny_en", "whisper_tiny_multi", "whisper_base_en"])
def test_builtin_preset_without_weights_needs_no_download(name):
    # conftest sets WHISPER_KERAS_OFFLINE=1: any download attempt would raise.
    model = WhisperBackbone.from_preset(name, load_weights=False)
    assert model.count_params() == WhisperBackbone.presets[name]["metadata"]["params"]


@pytest.mark.slow
def test_large_v3_turbo_parameter_count():
    name = "whisper_large_multi_v3_turbo"
    model = WhisperBackbone.from_preset(name, load_weights=False)
    assert model.count_params() == WhisperBackbone.presets[name]["metadata"]["params"]


@pytest.mark.parametrize(
    "handle",
    [
        "whisper_tiny_en",
        "kaggle://keras/whisper/keras/whisper_tiny_en/4",
        "hf://openai/whisper-tiny.en",
    ],
)
def test_remote_presets_fail_offline_with_a_clear_message(handle):
    with pytest.raises(preset_handles.PresetDownloadError) as error:
        WhisperBackbone.from_preset(handle)
    assert "pass its local directory instead" in str(error.value)
    expected = WhisperBackbone.presets.get(handle, {}).get("kaggle_handle", handle)
    assert expected in str(error.value)


def test_download_failure_names_the_handle_in_one_short_line(monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV)
    monkeypatch.setattr(preset_handles, "_reachable", lambda endpoint: True)

    def failing(handle):
        raise ConnectionError("Max retries exceeded\n" + "urllib3 " * 200)

    monkeypatch.setattr(preset_handles, "_kaggle_download", failing)
    with pytest.raises(preset_handles.PresetDownloadError, match="kaggle://a/b/c/d") as error:
        WhisperBackbone.from_preset("kaggle://a/b/c/d")
    assert error.value.reason == "ConnectionError: Max retries exceeded"


def test_an_unreachable_hub_fails_at_once_without_the_client(monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV)
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", "http://127.0.0.1:9")
    called = []
    monkeypatch.setattr(preset_handles, "_kaggle_download", called.append)
    with pytest.raises(preset_handles.PresetDownloadError) as error:
        WhisperBackbone.from_preset("whisper_tiny_en")
    assert error.value.reason == "no connection to 127.0.0.1" and called == []


def test_the_installed_tiny_en_preset_needs_no_download():
    backbone = WhisperBackbone.from_preset("tiny_en", load_weights=False)
    assert (backbone.num_layers, backbone.hidden_dim, backbone.vocabulary_size) == (4, 384, 51864)


def test_unknown_preset_lists_what_is_allowed():
    with pytest.raises(preset_io.PresetError, match="whisper_tiny_en"):
        WhisperBackbone.from_preset("whisper_tiny")


def test_save_to_preset_writes_keras_hubs_files(tmp_path):
    model = WhisperBackbone(**SMALL_CONFIG)
    model.save_to_preset(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["registered_name"] == "keras_hub>WhisperBackbone"
    assert config["class_name"] == "WhisperBackbone"
    assert config["config"]["dtype"] == {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }
    assert "num_decoder_layers" not in config["config"]
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["parameter_count"] == model.count_params() == 6096
    assert metadata["keras_hub_version"] == "0.32.0"
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_preset_round_trip_keeps_extensions(tmp_path):
    model = WhisperBackbone(**SMALL_CONFIG, num_decoder_layers=1, num_mels=128)
    model.save_to_preset(str(tmp_path))
    restored = WhisperBackbone.from_preset(str(tmp_path))
    assert restored.num_decoder_layers == 1
    inputs = random_inputs(num_mels=128)
    assert max_difference(model(inputs), restored(inputs)) == 0.0


def test_weights_of_another_architecture_are_refused(tmp_path):
    WhisperBackbone(**SMALL_CONFIG).save_to_preset(str(tmp_path))
    other = WhisperBackbone(**{**SMALL_CONFIG, "num_layers": 3})
    from whisper.convert.keras_hub_weights import load_keras_hub_weights

    with pytest.raises(ValueError, match="39 missing datasets.*whisper_decoder_2"):
        load_keras_hub_weights(other, str(tmp_path / "model.weights.h5"))


def test_from_preset_overrides_config(tmp_path):
    WhisperBackbone(**SMALL_CONFIG).save_to_preset(str(tmp_path))
    model = WhisperBackbone.from_preset(str(tmp_path), dtype="mixed_bfloat16")
    assert model.dtype_policy.name == "mixed_bfloat16"


def test_mixed_precision_keeps_norms_and_softmax_in_float32():
    reference = WhisperBackbone(**SMALL_CONFIG)
    mixed = WhisperBackbone(**SMALL_CONFIG, dtype="mixed_bfloat16")
    mixed.set_weights(reference.get_weights())
    assert all(w.dtype == "float32" for w in mixed.weights)
    layer = mixed.decoder.transformer_layers[0]
    assert layer.self_attention.compute_dtype == "bfloat16"
    assert layer.self_attention_layer_norm.compute_dtype == "float32"
    assert mixed.encoder.layer_norm.compute_dtype == "float32"
    inputs = random_inputs()
    outputs = mixed(inputs)
    assert outputs["decoder_sequence_output"].dtype == "bfloat16"
    assert max_difference(outputs, reference(inputs)) < 0.1


@pytest.mark.parametrize(
    "direction", ["ours_to_keras_hub", pytest.param("keras_hub_to_ours", marks=pytest.mark.slow)]
)
def test_small_preset_loads_in_the_other_library_with_the_same_outputs(
    tmp_path, keras_hub_oracle, direction
):
    assert_parity(tmp_path, keras_hub_oracle, direction, SMALL_CONFIG, random_inputs())


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["ours_to_keras_hub", "keras_hub_to_ours"])
def test_tiny_en_preset_loads_in_the_other_library_with_the_same_outputs(
    tmp_path, keras_hub_oracle, direction
):
    config = WhisperBackbone.presets["whisper_tiny_en"]["config"]
    inputs = random_inputs(batch=2, frames=3000, length=24, vocabulary=51864)
    assert_parity(tmp_path, keras_hub_oracle, direction, config, inputs)


def assert_parity(tmp_path, keras_hub_oracle, direction, config, inputs):
    preset_dir = str(tmp_path / "preset")
    if direction == "ours_to_keras_hub":
        keras.utils.set_random_seed(1)
        WhisperBackbone(**config).save_to_preset(preset_dir)
    else:
        keras_hub_oracle("save", json.dumps(config), 1, preset_dir)
    ours = WhisperBackbone.from_preset(preset_dir)
    assert type(ours).__module__ == "whisper.whisper_backbone"
    np.savez(tmp_path / "inputs.npz", **inputs)
    keras_hub_oracle("run", preset_dir, tmp_path / "inputs.npz", tmp_path / "outputs.npz")
    theirs = dict(np.load(tmp_path / "outputs.npz"))
    assert max_difference(ours.predict_on_batch(inputs), theirs) <= 1e-5
