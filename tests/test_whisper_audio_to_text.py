import json

import keras
import numpy as np
import pytest
from model_factory import tiny_task

from whisper.whisper_audio_to_text import WhisperAudioToText
from whisper.whisper_audio_to_text import token_cross_entropy
from whisper.whisper_backbone import WhisperBackbone

ENGLISH_EOT = 50256
PROMPT = [50257, 50362]  # <|startoftranscript|> <|notimestamps|>
# A few ordinary tokens plus end of text: with everything else suppressed, a
# random model ends rows at different steps, which exercises per-row stopping.
ALLOWED = [ENGLISH_EOT, 262, 290, 318, 1110, 2068]


@pytest.fixture(scope="module")
def model():
    return tiny_task(
        seed=3,
        num_layers=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_encoder_sequence_length=100,
        max_decoder_sequence_length=32,
    )


def features(batch=4, frames=100, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.5, 2.0, batch)[:, None, None]
    return (rng.normal(size=(batch, frames, 80)) * scales).astype("float32")


def uncached_greedy(model, features, prompt, max_length, suppressed, begin_suppressed):
    """Reference decoding: recompute the whole decoder for every new token."""
    batch = features.shape[0]
    prompt = np.asarray(prompt, "int32")
    tokens = prompt if prompt.ndim == 2 else np.tile(prompt, (batch, 1))
    prompt_length = tokens.shape[1]
    done = np.zeros(batch, bool)
    while tokens.shape[1] < max_length and not done.all():
        logits = np.asarray(
            model(
                {
                    "encoder_features": features,
                    "decoder_token_ids": tokens,
                    "decoder_padding_mask": np.ones_like(tokens),
                }
            )
        )[:, -1].astype("float64")
        logits[:, suppressed] = -np.inf
        if tokens.shape[1] == prompt_length:
            logits[:, begin_suppressed] = -np.inf
        next_token = np.where(done, ENGLISH_EOT, logits.argmax(-1)).astype("int32")
        done |= next_token == ENGLISH_EOT
        tokens = np.concatenate([tokens, next_token[:, None]], axis=1)
    padding = np.full((batch, max_length - tokens.shape[1]), ENGLISH_EOT, "int32")
    return np.concatenate([tokens, padding], axis=1)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_cached_decoding_gives_the_tokens_of_full_recomputation(model, jit_compile):
    inputs = features()
    expected = uncached_greedy(
        model, inputs, PROMPT, 24, model.suppressed_token_ids(), model.begin_suppressed_token_ids()
    )
    got = model.generate_token_ids(
        inputs, prompt_ids=PROMPT, max_length=24, jit_compile=jit_compile
    )
    np.testing.assert_array_equal(got, expected)
    assert got.shape == (4, 24)
    # Nothing after end of text but end of text; no special tokens generated.
    assert (got[:, 2:] <= ENGLISH_EOT).all()


def test_rows_stop_at_their_own_end_of_text(model):
    # Make end of text a near twin of an ordinary token, allow only a few
    # tokens, and start rows from different prompts, so that rows end at
    # different steps.
    embedding = model.backbone.token_embedding.embeddings
    original = np.asarray(embedding)
    changed = original.copy()
    noise = np.random.default_rng(0).normal(size=original.shape[1])
    changed[ENGLISH_EOT] = original[318] + 0.05 * noise
    embedding.assign(changed)
    suppressed = sorted(set(range(51864)) - set(ALLOWED))
    model.suppress_tokens = suppressed
    try:
        inputs = features(batch=8, seed=1)
        prompts = np.array([PROMPT + [token] for token in range(400, 408)], "int32")
        got = model.generate_token_ids(inputs, prompt_ids=prompts, max_length=20)
        expected = uncached_greedy(
            model, inputs, prompts, 20, suppressed, model.begin_suppressed_token_ids()
        )
    finally:
        model.suppress_tokens = None
        embedding.assign(original)
    np.testing.assert_array_equal(got, expected)
    ends = [list(row[3:]).index(ENGLISH_EOT) if ENGLISH_EOT in row[3:] else None for row in got]
    # Some row must end while another goes on decoding.
    assert len(set(ends)) > 1 and ends.count(None) < len(ends), got
    for row in got:
        generated = list(row[3:])
        if ENGLISH_EOT in generated:
            first = generated.index(ENGLISH_EOT)
            assert set(generated[first:]) == {ENGLISH_EOT}
    # The first generated token is never end of text (begin suppression).
    assert (got[:, 3] != ENGLISH_EOT).all()


def test_forced_prefix_is_kept_for_every_row(model):
    prompt = np.array([[50257, 50362], [50257, 50362]], "int32")
    got = model.generate_token_ids(features(batch=2), prompt_ids=prompt, max_length=8)
    np.testing.assert_array_equal(got[:, :2], prompt)


def test_max_length_is_checked(model):
    with pytest.raises(ValueError, match="max_length"):
        model.generate_token_ids(features(batch=1), prompt_ids=PROMPT, max_length=33)
    with pytest.raises(ValueError, match="max_length"):
        model.generate_token_ids(features(batch=1), prompt_ids=PROMPT, max_length=2)


def test_logits_use_the_tied_token_embedding(model):
    inputs = {
        "encoder_features": features(batch=1),
        "decoder_token_ids": np.array([PROMPT + [262, 290]], "int32"),
        "decoder_padding_mask": np.ones((1, 4), "int32"),
    }
    hidden = model.backbone(inputs)["decoder_sequence_output"]
    expected = np.asarray(hidden) @ np.asarray(model.backbone.token_embedding.embeddings).T
    np.testing.assert_allclose(np.asarray(model(inputs)), expected, atol=1e-4)
    assert len(model.weights) == len(model.backbone.weights)


def test_loss_counts_only_target_tokens():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 7)).astype("float32")
    targets = rng.integers(0, 7, (2, 5))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], "float32")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    expected = -(picked * mask).sum() / mask.sum()
    got = float(token_cross_entropy(targets, logits, mask))
    assert got == pytest.approx(expected, rel=1e-5)
    logits[1, 3:] = 100.0  # garbage under the padding changes nothing
    assert float(token_cross_entropy(targets, logits, mask)) == pytest.approx(got)


def test_fit_lowers_the_loss_and_ignores_padding():
    keras.utils.set_random_seed(0)
    backbone = WhisperBackbone(
        vocabulary_size=64,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_encoder_sequence_length=40,
        max_decoder_sequence_length=8,
    )
    model = WhisperAudioToText(backbone, suppress_tokens=[], begin_suppress_tokens=[])
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 64, (4, 7)).astype("int32")
    mask = np.ones((4, 6), "int32")
    mask[2:, 4:] = 0
    x = {
        "encoder_features": rng.normal(size=(4, 40, 80)).astype("float32"),
        "decoder_token_ids": ids[:, :-1],
        "decoder_padding_mask": mask,
    }
    y = ids[:, 1:]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=4, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < before / 2
    y_changed = y.copy()
    y_changed[2:, 4:] = 0
    assert model.evaluate(x, y_changed, verbose=0) == pytest.approx(after, rel=1e-5)


def test_config_round_trip(model):
    model.language, model.task = None, "transcribe"
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, WhisperAudioToText)
    assert restored.task == "transcribe"
    assert restored.backbone.get_config() == model.backbone.get_config()


def test_unknown_task_is_refused(model):
    with pytest.raises(ValueError, match="'summarize'"):
        WhisperAudioToText(model.backbone, task="summarize")


# --- With a tokenizer and audio converter -----------------------------------


@pytest.fixture(scope="module")
def english_task(english_keras_hub_assets):
    from whisper.whisper_tokenizer import WhisperTokenizer

    keras.utils.set_random_seed(5)
    backbone = WhisperBackbone(
        vocabulary_size=51864,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_decoder_sequence_length=24,
    )
    tokenizer = WhisperTokenizer(**english_keras_hub_assets)
    return WhisperAudioToText(backbone, tokenizer=tokenizer)


def test_generate_transcribes_clips_of_different_lengths(english_task, make_waveform):
    clips = [make_waveform("speech", 1.0, seed=0), make_waveform("chirp", 2.5, seed=1)]
    texts = english_task.generate(clips, max_length=12)
    assert isinstance(texts, list) and len(texts) == 2
    assert all(isinstance(text, str) for text in texts)
    features = english_task.audio_converter(np.stack([np.pad(clips[0], (0, 24000)), clips[1]]))
    token_ids = english_task.generate_token_ids(features, max_length=12)
    assert texts == english_task.tokenizer.detokenize(token_ids, skip_special_tokens=True)
    single = english_task.generate(clips[1], max_length=12)
    assert single == [texts[1]]


def test_default_prompt_and_suppression_come_from_the_tokenizer(english_task):
    assert english_task.decoder_prompt_ids() == [50257, 50362]
    assert english_task.begin_suppressed_token_ids() == [50256, 220]
    assert english_task.suppressed_token_ids() == list(range(50257, 51864))


def test_task_preset_round_trip_keeps_weights_tokenizer_and_settings(tmp_path, english_task):
    english_task.save_to_preset(str(tmp_path))
    for name in (
        "config.json",
        "model.weights.h5",
        "tokenizer.json",
        "audio_converter.json",
        "metadata.json",
        "task.json",
    ):
        assert (tmp_path / name).exists(), name
    task_file = json.loads((tmp_path / "task.json").read_text())
    assert task_file["registered_name"] == "whisper>WhisperAudioToText"
    assert task_file["config"]["task"] == "transcribe"
    restored = WhisperAudioToText.from_preset(str(tmp_path))
    features = np.random.default_rng(0).normal(size=(2, 3000, 80)).astype("float32")
    np.testing.assert_array_equal(
        restored.generate_token_ids(features, max_length=10),
        english_task.generate_token_ids(features, max_length=10),
    )


def test_multilingual_language_and_task_persist(tmp_path, multilingual_keras_hub_assets):
    from whisper.whisper_tokenizer import WhisperTokenizer

    backbone = WhisperBackbone(
        vocabulary_size=51865,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_decoder_sequence_length=16,
    )
    tokenizer = WhisperTokenizer(**multilingual_keras_hub_assets)
    model = WhisperAudioToText(backbone, tokenizer=tokenizer, language="fr", task="translate")
    model.save_to_preset(str(tmp_path))
    restored = WhisperAudioToText.from_preset(str(tmp_path))
    assert (restored.language, restored.task) == ("fr", "translate")
    fr, translate = tokenizer.language_token_id("fr"), tokenizer.translate_token_id
    assert restored.decoder_prompt_ids() == [tokenizer.bos_token_id, fr, translate, 50363]
    overridden = WhisperAudioToText.from_preset(str(tmp_path), language="de")
    assert overridden.language == "de"


@pytest.mark.slow
def test_task_loads_a_preset_written_by_keras_hub(
    tmp_path, keras_hub_oracle, english_keras_hub_assets, keras_hub
):
    config = {
        "vocabulary_size": 51864,
        "num_layers": 1,
        "num_heads": 2,
        "hidden_dim": 16,
        "intermediate_dim": 32,
        "max_decoder_sequence_length": 16,
    }
    keras_hub_oracle("save", json.dumps(config), 2, tmp_path)
    # keras_hub writes the tokenizer and converter files; saving does not go
    # through Keras's registry, so it can run in this process.
    keras_hub.models.WhisperTokenizer(**english_keras_hub_assets).save_to_preset(str(tmp_path))
    keras_hub.layers.WhisperAudioConverter().save_to_preset(str(tmp_path))
    model = WhisperAudioToText.from_preset(str(tmp_path))
    assert type(model.backbone).__module__ == "whisper.whisper_backbone"
    assert (model.language, model.task) == (None, "transcribe")
    assert model.tokenizer.eos_token_id == 50256
    assert len(model.generate(np.zeros(16000, "float32"), max_length=8)) == 1


def test_from_preset_builds_the_model_with_its_dtype_and_converter(tmp_path, english_task):
    english_task.save_to_preset(str(tmp_path / "original"))
    model = WhisperAudioToText.from_preset(
        str(tmp_path / "original"),
        dtype="mixed_bfloat16",
        audio_converter={"pad_to_max_audio_length": False},
    )
    assert model.backbone.dtype_policy.name == "mixed_bfloat16"
    assert model.audio_converter.pad_to_max_audio_length is False
    assert model.audio_converter.num_mels == english_task.audio_converter.num_mels
    # The weights are the preset's, kept in float32 under the mixed policy.
    for ours, theirs in zip(model.backbone.weights, english_task.backbone.weights):
        assert ours.dtype == "float32"
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    # The model is exported as it was built.
    model.save_to_preset(str(tmp_path / "exported"))
    converter = json.loads((tmp_path / "exported" / "audio_converter.json").read_text())
    assert converter["config"]["pad_to_max_audio_length"] is False
    assert WhisperAudioToText.from_preset(
        str(tmp_path / "exported")
    ).backbone.dtype_policy.name == ("mixed_bfloat16")


def test_a_converter_of_other_mel_bins_is_refused(model):
    from whisper.whisper_audio_converter import WhisperAudioConverter

    with pytest.raises(ValueError, match="128 mel bins; the backbone takes num_mels=80"):
        WhisperAudioToText(model.backbone, audio_converter=WhisperAudioConverter(num_mels=128))
