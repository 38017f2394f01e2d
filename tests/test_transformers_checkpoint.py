"""Hugging Face transformers checkpoints, checked against transformers itself.

transformers (with torch) is the oracle: a random checkpoint it saves must give
our model its logits, and a checkpoint we write must load in it with our
logits, tokens, decoding prompt and generated tokens. torch and transformers
are imported inside fixtures, so no other test file loads them.
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import safetensors.numpy

from whisper import preset_handles
from whisper import preset_io
from whisper import special_tokens
from whisper.convert import transformers_format
from whisper.convert.keras_hub_weights import keras_hub_arrays
from whisper.convert.transformers_reader import is_transformers_checkpoint
from whisper.convert.transformers_reader import read_transformers_checkpoint
from whisper.convert.transformers_writer import save_transformers_checkpoint
from whisper.utils.offline import OFFLINE_ENV
from whisper.whisper_audio_to_text import WhisperAudioToText
from whisper.whisper_backbone import WhisperBackbone
from whisper.whisper_tokenizer import WhisperTokenizer

TOLERANCE = 1e-4
# A small transformers WhisperConfig; feature frames are 2 * max_source_positions.
SMALL_TRANSFORMERS_CONFIG = {
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
    "max_source_positions": 50,
    "max_target_positions": 32,
}
SMALL_BACKBONE_CONFIG = {
    "num_layers": 2,
    "num_heads": 4,
    "hidden_dim": 64,
    "intermediate_dim": 128,
    "max_encoder_sequence_length": 100,
    "max_decoder_sequence_length": 32,
}
TEXTS = [
    "Hello world, this is Whisper.",
    " Ça va? Très bien, merci!",
    "日本語のテキストと English.",
    "special<|endoftext|>tokens stay whole",
]


# Oracles -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    import torch

    torch.manual_seed(0)
    return torch


@pytest.fixture(scope="module")
def transformers(torch):
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers


def random_transformers_model(transformers, torch, architecture, **config):
    """A transformers Whisper model whose every parameter is random.

    transformers starts biases at zero and norms at one; moving every
    parameter makes a dropped or misplaced bias show in the outputs.
    """
    settings = {**SMALL_TRANSFORMERS_CONFIG, **config}
    model = getattr(transformers, architecture)(transformers.WhisperConfig(**settings))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


def random_inputs(vocabulary_size, num_mels=80, frames=100, length=9, seed=0):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(0, vocabulary_size, (2, length)).astype("int32")
    return {
        "encoder_features": rng.normal(size=(2, frames, num_mels)).astype("float32"),
        "decoder_token_ids": token_ids,
        "decoder_padding_mask": np.ones_like(token_ids),
    }


def transformers_outputs(torch, model, inputs):
    with torch.no_grad():
        return model(
            input_features=torch.from_numpy(inputs["encoder_features"].transpose(0, 2, 1)),
            decoder_input_ids=torch.from_numpy(inputs["decoder_token_ids"].astype("int64")),
        )


def max_difference(a, b):
    return float(np.max(np.abs(np.asarray(a, "float32") - np.asarray(b, "float32"))))


# Our models ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def english_tokenizer(english_tokenizer_json_path):
    return WhisperTokenizer.from_tokenizer_json(english_tokenizer_json_path)


@pytest.fixture(scope="module")
def multilingual_tokenizer(multilingual_keras_hub_assets):
    return WhisperTokenizer(**multilingual_keras_hub_assets)


def random_audio_to_text(tokenizer, vocabulary_size, seed=0, **settings):
    keras.utils.set_random_seed(seed)
    backbone = WhisperBackbone(vocabulary_size=vocabulary_size, **SMALL_BACKBONE_CONFIG)
    rng = np.random.default_rng(seed)
    for variable in backbone.weights:
        noise = 0.05 * rng.standard_normal(tuple(variable.shape))
        variable.assign(variable.numpy() + noise.astype("float32"))
    return WhisperAudioToText(backbone, tokenizer=tokenizer, **settings)


EXPORTS = {
    # name: (tokenizer fixture, vocabulary size, generation settings)
    "english": ("english_tokenizer", 51864, {}),
    "multilingual": (
        "multilingual_tokenizer",
        51865,
        {"language": "fr", "task": "translate"},
    ),
}


@pytest.fixture(scope="module", params=sorted(EXPORTS))
def exported(request, tmp_path_factory):
    """(our model, the transformers checkpoint it was saved to)."""
    tokenizer_fixture, vocabulary_size, settings = EXPORTS[request.param]
    tokenizer = request.getfixturevalue(tokenizer_fixture)
    model = random_audio_to_text(tokenizer, vocabulary_size, **settings)
    path = str(tmp_path_factory.mktemp(f"exported_{request.param}"))
    save_transformers_checkpoint(model, path)
    return model, path


def writable_copy(tokenizer, vocabulary_size, tmp_path_factory, tmp_path):
    """A copy of a small checkpoint that we wrote, for a test to change."""
    source = tmp_path_factory.getbasetemp() / f"source_{vocabulary_size}"
    if not source.exists():
        model = random_audio_to_text(tokenizer, vocabulary_size)
        save_transformers_checkpoint(model, str(source))
    copy = tmp_path / "checkpoint"
    shutil.copytree(source, copy)
    return str(copy)


@pytest.fixture
def multilingual_checkpoint(multilingual_tokenizer, tmp_path_factory, tmp_path):
    return writable_copy(multilingual_tokenizer, 51865, tmp_path_factory, tmp_path)


@pytest.fixture
def english_checkpoint(english_tokenizer, tmp_path_factory, tmp_path):
    return writable_copy(english_tokenizer, 51864, tmp_path_factory, tmp_path)


def read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(data, file)


def edit_json(path, **changes):
    write_json(path, {**read_json(path), **changes})


# Reading what transformers writes ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [
        {"vocab_size": 51865, "num_mel_bins": 80},
        # large-v3-turbo's shape: 128 mel bins, fewer decoder than encoder layers.
        {"vocab_size": 51866, "num_mel_bins": 128, "decoder_layers": 1},
    ],
    ids=["multilingual_80_mels", "128_mels_1_decoder_layer"],
)
def test_transformers_checkpoint_gives_transformers_logits(transformers, torch, config, tmp_path):
    reference = random_transformers_model(
        transformers, torch, "WhisperForConditionalGeneration", **config
    )
    reference.save_pretrained(tmp_path)
    assert is_transformers_checkpoint(tmp_path)

    model = WhisperAudioToText.from_preset(str(tmp_path))

    assert type(model.backbone) is WhisperBackbone
    assert model.backbone.num_mels == config["num_mel_bins"]
    expected_decoder_layers = config.get("decoder_layers")
    assert model.backbone.num_decoder_layers == expected_decoder_layers
    inputs = random_inputs(config["vocab_size"], num_mels=config["num_mel_bins"])
    expected = transformers_outputs(torch, reference, inputs).logits
    assert max_difference(model(inputs), expected) < TOLERANCE


@pytest.mark.slow
def test_whisper_model_names_without_prefix_load(transformers, torch, tmp_path):
    reference = random_transformers_model(transformers, torch, "WhisperModel", vocab_size=51865)
    reference.save_pretrained(tmp_path)

    backbone = WhisperBackbone.from_preset(str(tmp_path))

    inputs = random_inputs(51865)
    expected = transformers_outputs(torch, reference, inputs)
    outputs = backbone(inputs)
    assert (
        max_difference(outputs["encoder_sequence_output"], expected.encoder_last_hidden_state)
        < TOLERANCE
    )
    assert (
        max_difference(outputs["decoder_sequence_output"], expected.last_hidden_state) < TOLERANCE
    )


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_checkpoint_loads_as_float32(transformers, torch, dtype, tmp_path):
    reference = random_transformers_model(
        transformers, torch, "WhisperForConditionalGeneration", vocab_size=51865
    )
    reference.to(getattr(torch, dtype)).save_pretrained(tmp_path)
    # The reference computes in float32 from the same rounded weights.
    reference.float()

    model = WhisperAudioToText.from_preset(str(tmp_path))

    assert all(weight.dtype == "float32" for weight in model.backbone.weights)
    inputs = random_inputs(51865)
    expected = transformers_outputs(torch, reference, inputs).logits
    assert max_difference(model(inputs), expected) < TOLERANCE


@pytest.mark.slow
def test_sharded_checkpoint_loads(transformers, torch, tmp_path):
    reference = random_transformers_model(
        transformers, torch, "WhisperForConditionalGeneration", vocab_size=51865
    )
    reference.save_pretrained(tmp_path, max_shard_size="1MB")
    assert not (tmp_path / transformers_format.WEIGHTS_FILE).exists()
    index = read_json(tmp_path / transformers_format.WEIGHTS_INDEX_FILE)
    assert len(set(index["weight_map"].values())) > 1

    model = WhisperAudioToText.from_preset(str(tmp_path))

    inputs = random_inputs(51865)
    expected = transformers_outputs(torch, reference, inputs).logits
    assert max_difference(model(inputs), expected) < TOLERANCE


# Writing what transformers reads ---------------------------------------------------


@pytest.mark.slow
def test_exported_checkpoint_gives_our_logits_and_tokens_in_transformers(
    transformers, torch, exported
):
    model, path = exported
    reference, loading = transformers.WhisperForConditionalGeneration.from_pretrained(
        path, output_loading_info=True
    )
    reference.eval()
    assert not any(loading.values()), loading

    vocabulary_size = model.backbone.vocabulary_size
    inputs = random_inputs(vocabulary_size)
    expected = transformers_outputs(torch, reference, inputs).logits
    assert max_difference(model(inputs), expected) < TOLERANCE

    # transformers' generate builds its prompt and its token suppression from
    # generation_config.json: it must start from our prompt and suppress what
    # we suppress when decoding with timestamps (timestamps stay allowed, so
    # that `return_timestamps=True` works, as in OpenAI's hub checkpoints).
    features = torch.from_numpy(inputs["encoder_features"].transpose(0, 2, 1))
    prompt = model.decoder_prompt_ids()

    def generate():
        with torch.no_grad():
            return reference.generate(
                features, max_new_tokens=8, return_dict_in_generate=True, output_scores=True
            )

    first_scores = generate().scores[0].numpy()
    suppressed = set(model.suppressed_token_ids(timestamps=True))
    suppressed |= set(model.begin_suppressed_token_ids())
    assert set(np.flatnonzero(np.isinf(first_scores[0]))) == suppressed
    # Decoding text alone, we also keep timestamps out (a random model would
    # write them): with that suppression, transformers decodes our tokens.
    reference.generation_config.suppress_tokens = model.suppressed_token_ids()
    generated = generate()
    sequences = generated.sequences.numpy()
    ours = model.generate_token_ids(
        inputs["encoder_features"], max_length=len(prompt) + 8, jit_compile=False
    )
    np.testing.assert_array_equal(ours[:, : sequences.shape[1]], sequences)
    first_scores = generated.scores[0].numpy()
    prompt_ids = np.tile(np.asarray(prompt, "int32"), (2, 1))
    first_logits = np.asarray(
        model(
            {
                "encoder_features": inputs["encoder_features"],
                "decoder_token_ids": prompt_ids,
                "decoder_padding_mask": np.ones_like(prompt_ids),
            }
        )
    )[:, -1]
    allowed = np.isfinite(first_scores)
    assert max_difference(first_scores[allowed], first_logits[allowed]) < TOLERANCE


@pytest.mark.slow
def test_checkpoint_saved_again_by_transformers_reads_back(transformers, exported, tmp_path):
    model, path = exported
    transformers.WhisperForConditionalGeneration.from_pretrained(path).save_pretrained(tmp_path)
    transformers.AutoTokenizer.from_pretrained(path).save_pretrained(tmp_path)

    again = WhisperAudioToText.from_preset(str(tmp_path))

    inputs = random_inputs(model.backbone.vocabulary_size)
    assert max_difference(again(inputs), model(inputs)) < TOLERANCE
    assert (again.language, again.task) == (model.language, model.task)
    assert again.tokenizer.is_multilingual == model.tokenizer.is_multilingual
    for text in TEXTS:
        assert again.tokenizer.tokenize(text) == model.tokenizer.tokenize(text)
    assert again.decoder_prompt_ids() == model.decoder_prompt_ids()


def test_exported_generation_config_states_language_and_task(exported):
    model, path = exported
    settings = read_json(os.path.join(path, transformers_format.GENERATION_CONFIG_FILE))
    tokenizer = model.tokenizer

    assert settings["decoder_start_token_id"] == tokenizer.bos_token_id
    assert settings["no_timestamps_token_id"] == tokenizer.no_timestamps_token_id
    assert settings["is_multilingual"] == tokenizer.is_multilingual
    assert settings["suppress_tokens"] == model.suppressed_token_ids(timestamps=True)
    assert settings["max_initial_timestamp_index"] == 50
    assert settings["begin_suppress_tokens"] == model.begin_suppressed_token_ids()
    if tokenizer.is_multilingual:
        assert settings["language"] == "<|fr|>"
        assert settings["task"] == "translate"
        assert settings["lang_to_id"]["<|fr|>"] == tokenizer.language_token_id("fr")
        assert settings["task_to_id"] == {
            "transcribe": tokenizer.transcribe_token_id,
            "translate": tokenizer.translate_token_id,
        }
    else:
        assert "language" not in settings and "task" not in settings


@pytest.mark.slow
def test_exported_generation_config_loads_in_transformers(transformers, exported):
    model, path = exported
    settings = transformers.GenerationConfig.from_pretrained(path)
    assert getattr(settings, "language", None) == (
        "<|fr|>" if model.tokenizer.is_multilingual else None
    )
    assert settings.decoder_start_token_id == model.tokenizer.bos_token_id


def test_exported_tokenizer_gives_our_ids_in_transformers(transformers, exported):
    model, path = exported
    tokenizer = model.tokenizer
    reference = transformers.AutoTokenizer.from_pretrained(path)

    for text in TEXTS:
        ids = tokenizer.tokenize(text)
        assert reference(text, add_special_tokens=False).input_ids == ids
        assert reference.decode(ids) == tokenizer.detokenize(ids)
    # Its labels start with the model's prompt, as our training targets do.
    target = tokenizer.training_target_ids(
        " Hello world.", language=model.language, task=model.task
    )
    assert reference(" Hello world.").input_ids == target
    assert reference.pad_token_id == tokenizer.pad_token_id


@pytest.mark.slow
def test_exported_preprocessor_config_gives_our_features(transformers, exported, make_waveform):
    model, path = exported
    feature_extractor = transformers.AutoFeatureExtractor.from_pretrained(path)
    audio = make_waveform("speech", 3.0)

    expected = feature_extractor(audio, sampling_rate=16000, return_tensors="np").input_features
    features = np.asarray(model.audio_converter(audio[None]))

    assert max_difference(features, expected.transpose(0, 2, 1)) < 1e-3


def test_export_reads_back_unchanged(exported):
    model, path = exported

    imported = read_transformers_checkpoint(path)

    backbone_config = model.backbone.get_config()
    for key, value in imported.backbone_config.items():
        assert backbone_config[key] == value, key
    expected = keras_hub_arrays(model.backbone)
    assert set(imported.arrays) == set(expected)
    for dataset, array in expected.items():
        np.testing.assert_array_equal(imported.arrays[dataset], array, err_msg=dataset)
    assert imported.tokenizer.is_multilingual == model.tokenizer.is_multilingual
    for text in TEXTS:
        assert imported.tokenizer.tokenize(text) == model.tokenizer.tokenize(text)
    assert imported.generation == {
        "language": model.language,
        "task": model.task,
        "suppress_tokens": model.suppressed_token_ids(timestamps=True),
        "begin_suppress_tokens": model.begin_suppressed_token_ids(),
    }


def test_backbone_exports_with_a_tokenizer(english_tokenizer, tmp_path):
    backbone = random_audio_to_text(None, 51864).backbone

    WhisperAudioToText(backbone, tokenizer=english_tokenizer).save_to_transformers(str(tmp_path))

    imported = read_transformers_checkpoint(str(tmp_path))
    assert imported.tokenizer.tokenize("Hello") == english_tokenizer.tokenize("Hello")
    config = read_json(tmp_path / "config.json")
    assert config["decoder_start_token_id"] == english_tokenizer.bos_token_id
    assert config["eos_token_id"] == english_tokenizer.eos_token_id


def test_backbone_exports_without_a_tokenizer(tmp_path):
    model = random_audio_to_text(None, 51865)

    model.save_to_transformers(str(tmp_path))

    assert not (tmp_path / "tokenizer.json").exists()
    config = read_json(tmp_path / "config.json")
    # OpenAI's multilingual layout: <|endoftext|> 50257, <|startoftranscript|> 50258.
    assert (config["eos_token_id"], config["decoder_start_token_id"]) == (50257, 50258)
    assert read_transformers_checkpoint(str(tmp_path)).tokenizer is None


def test_export_leaves_no_temporary_files(exported):
    _, path = exported
    assert not [name for name in os.listdir(path) if name.endswith(".tmp")]


# Generation settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, expected",
    [
        ({"language": "fr", "task": "transcribe"}, ("fr", "transcribe")),
        ({"language": "<|de|>"}, ("de", "transcribe")),
        ({"language": "French", "task": "translate"}, ("fr", "translate")),
        ({"language": "castilian"}, ("es", "transcribe")),
        # The legacy prompt: [position, token] pairs after <|startoftranscript|>.
        (
            {
                "forced_decoder_ids": [
                    [1, "<|es|>"],
                    [2, "<|translate|>"],
                    [3, "<|notimestamps|>"],
                ]
            },
            ("es", "translate"),
        ),
        # large-v3's: detect the language, then transcribe.
        (
            {"forced_decoder_ids": [[1, None], [2, "<|transcribe|>"]]},
            (None, "transcribe"),
        ),
        ({}, (None, "transcribe")),
    ],
    ids=["code", "token", "name", "alias", "forced", "forced_detect", "none"],
)
def test_language_and_task_are_read_from_generation_config(
    multilingual_checkpoint, multilingual_tokenizer, settings, expected
):
    if "forced_decoder_ids" in settings:
        settings = {
            "forced_decoder_ids": [
                [position, None if token is None else multilingual_tokenizer.token_to_id(token)]
                for position, token in settings["forced_decoder_ids"]
            ]
        }
    write_json(os.path.join(multilingual_checkpoint, "generation_config.json"), settings)

    generation = read_transformers_checkpoint(multilingual_checkpoint).generation

    assert (generation["language"], generation["task"]) == expected


def test_settings_in_config_json_serve_when_generation_config_is_absent(
    multilingual_checkpoint, multilingual_tokenizer
):
    os.remove(os.path.join(multilingual_checkpoint, "generation_config.json"))
    edit_json(
        os.path.join(multilingual_checkpoint, "config.json"),
        forced_decoder_ids=[[1, multilingual_tokenizer.language_token_id("de")]],
        suppress_tokens=[1, 2, 3],
        begin_suppress_tokens=[220, 50257],
    )

    generation = read_transformers_checkpoint(multilingual_checkpoint).generation

    assert generation == {
        "language": "de",
        "task": "transcribe",
        "suppress_tokens": [1, 2, 3],
        "begin_suppress_tokens": [220, 50257],
    }


def test_english_only_checkpoint_names_no_language(english_checkpoint):
    edit_json(
        os.path.join(english_checkpoint, "generation_config.json"),
        language="en",
        task="transcribe",
    )
    generation = read_transformers_checkpoint(english_checkpoint).generation
    assert (generation["language"], generation["task"]) == (None, "transcribe")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"language": "klingon"}, "klingon"),
        ({"task": "summarize"}, "summarize"),
        ({"suppress_tokens": [1, 10**6]}, "suppress_tokens"),
        ({"forced_decoder_ids": 5}, "forced_decoder_ids"),
    ],
    ids=["language", "task", "suppress_tokens", "forced_decoder_ids"],
)
def test_invalid_generation_settings_are_refused(multilingual_checkpoint, settings, message):
    write_json(os.path.join(multilingual_checkpoint, "generation_config.json"), settings)
    with pytest.raises(preset_io.PresetError, match=message):
        read_transformers_checkpoint(multilingual_checkpoint)


def test_language_names_agree_with_transformers(transformers):
    from transformers.models.whisper import tokenization_whisper

    assert special_tokens.LANGUAGE_NAMES == tokenization_whisper.LANGUAGES
    assert special_tokens.LANGUAGE_CODES == tokenization_whisper.TO_LANGUAGE_CODE


# Refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"activation_function": "relu"}, "activation_function = 'relu'"),
        ({"scale_embedding": True}, "scale_embedding = True"),
        ({"decoder_attention_heads": 2}, "decoder_attention_heads = 2"),
        ({"decoder_ffn_dim": 64}, "decoder_ffn_dim = 64"),
        ({"max_target_positions": 16}, "config.json implies"),
        ({"encoder_layers": 3}, "missing tensors"),
    ],
    ids=["activation", "scale_embedding", "heads", "ffn", "positions", "layers"],
)
def test_unsupported_or_inconsistent_configs_are_refused(multilingual_checkpoint, changes, message):
    edit_json(os.path.join(multilingual_checkpoint, "config.json"), **changes)
    with pytest.raises(preset_io.PresetError, match=message):
        WhisperBackbone.from_preset(multilingual_checkpoint)


def test_missing_config_key_is_named(multilingual_checkpoint):
    path = os.path.join(multilingual_checkpoint, "config.json")
    config = read_json(path)
    del config["d_model"]
    write_json(path, config)
    with pytest.raises(preset_io.PresetError, match="lacks the key 'd_model'"):
        read_transformers_checkpoint(multilingual_checkpoint)


def rewrite_weights(checkpoint, change):
    path = os.path.join(checkpoint, transformers_format.WEIGHTS_FILE)
    tensors = dict(safetensors.numpy.load_file(path))
    change(tensors)
    safetensors.numpy.save_file(tensors, path, metadata={"format": "pt"})


def test_tied_head_copy_is_accepted(multilingual_checkpoint):
    # A checkpoint that stores the head as a copy of the token embedding
    # loads as the tied one does: the same weights, the same outputs.
    tied = WhisperBackbone.from_preset(multilingual_checkpoint)
    rewrite_weights(
        multilingual_checkpoint,
        lambda t: t.update({"proj_out.weight": t["model.decoder.embed_tokens.weight"].copy()}),
    )
    with_copy = WhisperBackbone.from_preset(multilingual_checkpoint)
    assert len(with_copy.weights) == len(tied.weights)
    for ours, theirs in zip(with_copy.weights, tied.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda t: t.update({"proj_out.weight": t["model.decoder.embed_tokens.weight"] + 1}),
            "untied head",
        ),
        (lambda t: t.pop("model.encoder.layer_norm.bias"), "missing tensors"),
        (lambda t: t.update({"model.extra.weight": np.zeros(2, "float32")}), "unexpected tensors"),
        (
            lambda t: t.update({"model.encoder.layer_norm.bias": np.zeros(64, "int8")}),
            "dtype I8",
        ),
    ],
    ids=["untied_head", "missing", "unexpected", "quantized"],
)
def test_bad_weights_are_refused(multilingual_checkpoint, change, message):
    rewrite_weights(multilingual_checkpoint, change)
    with pytest.raises(preset_io.PresetError, match=message):
        WhisperBackbone.from_preset(multilingual_checkpoint)


def test_checkpoint_without_safetensors_is_refused(multilingual_checkpoint):
    os.remove(os.path.join(multilingual_checkpoint, transformers_format.WEIGHTS_FILE))
    with pytest.raises(preset_io.PresetError, match="safe_serialization=True"):
        WhisperBackbone.from_preset(multilingual_checkpoint)


def test_detection(multilingual_checkpoint, tmp_path):
    assert is_transformers_checkpoint(multilingual_checkpoint)
    assert not is_transformers_checkpoint(str(tmp_path))
    keras_hub_preset = tmp_path / "keras_hub"
    WhisperBackbone(vocabulary_size=100, **SMALL_BACKBONE_CONFIG).save_to_preset(
        str(keras_hub_preset)
    )
    assert not is_transformers_checkpoint(str(keras_hub_preset))


# hf:// handles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "preset, handle",
    [
        ("whisper_large_multi_v3", "hf://openai/whisper-large-v3"),
        ("whisper_large_multi_v3_turbo", "hf://openai/whisper-large-v3-turbo"),
    ],
)
def test_transformers_presets_fail_offline_naming_their_handle(preset, handle):
    with pytest.raises(preset_handles.PresetDownloadError, match=handle):
        WhisperAudioToText.from_preset(preset)


def test_hf_handle_dispatches_a_downloaded_checkpoint_to_the_importer(
    multilingual_checkpoint, monkeypatch
):
    monkeypatch.delenv(OFFLINE_ENV)
    monkeypatch.setattr(preset_handles, "_reachable", lambda endpoint: True)
    edit_json(
        os.path.join(multilingual_checkpoint, "generation_config.json"),
        language="<|de|>",
        task="transcribe",
    )
    downloads = []

    def download(handle, local_files_only=False):
        if local_files_only:
            raise FileNotFoundError("not cached")
        downloads.append(handle)
        return multilingual_checkpoint

    monkeypatch.setattr(preset_handles, "_hf_download", download)

    model = WhisperAudioToText.from_preset("hf://someone/whisper-small-de")

    assert downloads == ["hf://someone/whisper-small-de"]
    assert (model.language, model.task) == ("de", "transcribe")
    assert model.backbone.vocabulary_size == 51865


def test_hf_download_skips_weights_that_are_never_read(monkeypatch):
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    monkeypatch.delenv(OFFLINE_ENV)
    monkeypatch.setattr(preset_handles, "_reachable", lambda endpoint: True)
    requests = []

    def snapshot_download(repo_id, **kwargs):
        requests.append((repo_id, kwargs))
        raise ConnectionError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(preset_handles.PresetDownloadError):
        WhisperAudioToText.from_preset("whisper_large_multi_v3")

    # The cache is looked up first, then the download is made.
    assert [kwargs["local_files_only"] for _, kwargs in requests] == [True, False]
    (repo_id, kwargs) = requests[-1]
    assert repo_id == "openai/whisper-large-v3"
    # openai/whisper-large-v3's files: only what the importer reads is fetched.
    repository = [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "preprocessor_config.json",
        "model.safetensors",
        "model.safetensors.index.fp32.json",
        "model.fp32-00001-of-00002.safetensors",
        "pytorch_model.bin",
        "flax_model.msgpack",
    ]
    fetched = set(filter_repo_objects(repository, allow_patterns=kwargs["allow_patterns"]))
    assert fetched == {
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "preprocessor_config.json",
        "model.safetensors",
        "model.safetensors.index.fp32.json",
    }
    sharded = ["model-00001-of-00002.safetensors", "model.safetensors.index.json"]
    assert set(filter_repo_objects(sharded, allow_patterns=kwargs["allow_patterns"])) == set(
        sharded
    )
