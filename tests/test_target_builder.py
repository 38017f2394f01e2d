"""Training targets: timestamps in transformers' format, prompts, languages."""

import json

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from model_factory import tiny_backbone
from pipeline_settings import pipeline_settings
from tokenizers import AddedToken
from transformers import WhisperTokenizerFast

from data_pipelines.example_filter import ExampleFilter
from data_pipelines.example_filter import SkippedExample
from data_pipelines.manifest_source import ManifestSource
from data_pipelines.pipeline import build_dataset
from data_pipelines.speech_example import SpeechExample
from data_pipelines.target_builder import TargetBuilder
from train.optimizer import WarmupDecaySchedule
from train.optimizer import build_optimizer
from train.strategy import build_strategy
from train.trainer import Trainer
from whisper import WhisperAudioConverter
from whisper import WhisperAudioToText
from whisper import WhisperTokenizer
from whisper.transcription.transcript import Segment
from whisper.whisper_audio_to_text import IGNORED_TARGET_ID

SEGMENTS = (Segment(0.0, 1.234, "Hello world."), Segment(1.5, 1.99, "How are you?"))
# transformers' tokenizer reads timestamps as text; the times 20 ms apart.
TIMED_TEXT = "<|0.00|> Hello world.<|1.24|><|1.50|> How are you?<|2.00|>"


@pytest.fixture(scope="module")
def english(english_tokenizer_json_path):
    return WhisperTokenizer.from_tokenizer_json(english_tokenizer_json_path)


@pytest.fixture(scope="module")
def transformers_tokenizer(english_tokenizer_json_path):
    """transformers' Whisper tokenizer with the hub's 1501 timestamp tokens,
    which tiny.en's tokenizer.json lacks, added after <|notimestamps|>."""
    tokenizer = WhisperTokenizerFast(tokenizer_file=english_tokenizer_json_path)
    timestamps = [f"<|{index * 0.02:.2f}|>" for index in range(1501)]
    tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in timestamps])
    tokenizer.set_prefix_tokens(predict_timestamps=True)
    return tokenizer


def example(**fields):
    return SpeechExample(id="clip", path="clip.wav", **{"text": "Hello world.", **fields})


def test_timestamped_targets_are_transformers_format(english, transformers_tokenizer):
    builder = TargetBuilder(
        english, **pipeline_settings(TargetBuilder, timestamps=True, without_timestamps_share=0.0)
    )
    target = builder.target(example(segments=SEGMENTS))
    assert target.ids == transformers_tokenizer(TIMED_TEXT).input_ids
    assert target.ids[:2] == [english.bos_token_id, english.timestamp_begin_id]
    assert target.loss_start == 0


def test_timestamps_are_quantized_to_20_ms(english):
    for seconds, index in ((0.0, 0), (0.009, 0), (0.011, 1), (1.234, 62), (30.0, 1500)):
        assert english.timestamp_token_id(seconds) == english.timestamp_begin_id + index
    with pytest.raises(ValueError, match="0 to 30 s"):
        english.timestamp_token_id(30.5)


def test_a_share_of_timed_examples_trains_without_timestamps(english):
    builder = TargetBuilder(
        english,
        **pipeline_settings(TargetBuilder, timestamps=True, without_timestamps_share=0.3, seed=7),
    )
    timed = [
        english.no_timestamps_token_id not in builder.target(example(segments=SEGMENTS), p).ids
        for p in range(1000)
    ]
    assert np.mean(timed) == pytest.approx(0.7, abs=0.05)
    # The draw is the position's: a resumed stream builds the same targets.
    again = TargetBuilder(
        english,
        **pipeline_settings(TargetBuilder, timestamps=True, without_timestamps_share=0.3, seed=7),
    )
    assert builder.target(example(segments=SEGMENTS), 5) == again.target(
        example(segments=SEGMENTS), 5
    )
    plain = builder.target(example(segments=None), 0).ids
    assert plain == english.training_target_ids("Hello world.")


def test_previous_text_prompt_precedes_the_target_and_carries_no_loss(english):
    builder = TargetBuilder(
        english, **pipeline_settings(TargetBuilder, previous_text_probability=1.0)
    )
    target = builder.target(example(previous_text="Good morning."))
    prompt = english.previous_text_ids("Good morning.")
    assert prompt[0] == english.previous_text_token_id == 50360
    assert target.ids == prompt + english.training_target_ids("Hello world.")
    assert target.loss_start == len(prompt)
    assert builder.target(example(previous_text="  ")).loss_start == 0
    never = TargetBuilder(
        english, **pipeline_settings(TargetBuilder, previous_text_probability=0.0)
    )
    assert never.target(example(previous_text="Good morning.")).loss_start == 0


def test_a_long_previous_text_keeps_its_end_to_fit(english):
    builder = TargetBuilder(
        english,
        **pipeline_settings(TargetBuilder, previous_text_probability=1.0, max_label_tokens=12),
    )
    target = builder.target(example(previous_text="one two three four five six seven eight"))
    assert len(target.ids) - 1 == 12
    assert english.detokenize(target.ids[1 : target.loss_start]).endswith("seven eight")
    full = TargetBuilder(
        english,
        **pipeline_settings(TargetBuilder, previous_text_probability=1.0, max_label_tokens=5),
    )
    assert full.target(example(previous_text="one two")).loss_start == 0


def test_each_example_is_prompted_in_its_own_language(multilingual_keras_hub_assets):
    tokenizer = WhisperTokenizer(**multilingual_keras_hub_assets)
    builder = TargetBuilder(tokenizer, **pipeline_settings(TargetBuilder, language="en"))
    german = builder.target(example(language="german")).ids
    assert german[:4] == tokenizer.decoder_prompt_ids(language="de")
    assert builder.target(example()).ids[1] == tokenizer.language_token_id("en")
    example_filter = ExampleFilter(builder, **pipeline_settings(ExampleFilter))
    with pytest.raises(SkippedExample) as skipped:
        example_filter.target(example(language="klingon"))
    assert skipped.value.reason == "unsupported_language"
    assert "klingon" in skipped.value.detail


def test_english_only_tokenizers_refuse_other_languages(english):
    builder = TargetBuilder(english, **pipeline_settings(TargetBuilder))
    with pytest.raises(SkippedExample, match="unsupported_language: language 'fr'"):
        builder.target(example(language="fr"))
    assert builder.target(example(language="en")).ids[1] == 50362


def test_prompt_tokens_carry_no_loss_in_batches_and_the_train_step(english, tmp_path):
    texts = ["Good morning.", "Hello world.", "How are you today?"]
    with open(tmp_path / "train.jsonl", "w") as file:
        for index, text in enumerate(texts):
            tone = np.sin(np.arange(16000) * (index + 1) / 20).astype("float32") * 0.1
            soundfile.write(tmp_path / f"{index}.wav", tone, 16000)
            row = {"audio": f"{index}.wav", "text": text, "recording": "r"}
            file.write(json.dumps(row) + "\n")
    converter = WhisperAudioConverter(pad_to_max_audio_length=False)
    source = ManifestSource(tmp_path / "train.jsonl")
    dataset = build_dataset(
        source,
        english,
        converter,
        batch_size=3,
        training=False,
        **pipeline_settings(
            build_dataset,
            clip_length_windows=True,
            previous_text_probability=1.0,
            label_padding_multiple=8,
        ),
    )
    x, y = next(iter(dataset))
    y = y.numpy()
    for row, text, previous in zip(y, texts, [None, *texts[:-1]]):
        target = english.training_target_ids(text)
        prompt = english.previous_text_ids(previous) if previous else []
        taught = row[row != IGNORED_TARGET_ID][: len(target) - 1]
        assert taught.tolist() == target[1:]
        # The prompt's targets and the <|startoftranscript|> after it.
        assert (row[: len(prompt)] == IGNORED_TARGET_ID).all()
        assert row[len(prompt)] != IGNORED_TARGET_ID
    assert x["decoder_token_ids"].numpy()[:, 0].tolist() == [50257, 50360, 50360]

    strategy = build_strategy("default")
    with strategy.scope():
        backbone = tiny_backbone(max_encoder_sequence_length=200, max_decoder_sequence_length=64)
        model = WhisperAudioToText(backbone)
        optimizer = build_optimizer(model, WarmupDecaySchedule(1e-9, 0, 10))
    logits = model(x)
    mask = x["decoder_padding_mask"].numpy() * (y != IGNORED_TARGET_ID)
    log_probs = tf.nn.log_softmax(logits).numpy()
    picked = np.take_along_axis(log_probs, np.maximum(y, 0)[..., None], -1)[..., 0]
    expected = -(picked * mask).sum() / mask.sum()
    assert float(model.compute_loss(x, y, logits)) == pytest.approx(expected, rel=1e-5)
    trainer = Trainer(strategy, model, optimizer, jit_compile=False)
    batches = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors((x, y)))
    metrics = trainer.train_step(next(iter(batches)))
    assert metrics["target_tokens"] == mask.sum()
    assert metrics["loss"] == pytest.approx(expected, rel=1e-4)
