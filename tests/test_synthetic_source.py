"""The synthetic corpus: real espeak-ng speech, deterministic and cached."""

import json
import os
import time

import numpy as np
import pytest
from conftest import word_error_rate
from source_checks import assert_shards_partition

from data_pipelines import synthetic_source
from data_pipelines.synthetic_source import SyntheticSpeechSource
from data_pipelines.synthetic_source import corpus_plan
from data_pipelines.synthetic_source import split_of

SMALL = {"num_train": 6, "num_eval": 3, "seed": 0}


def corpus(cache_dir, split="train", **overrides):
    return SyntheticSpeechSource(split=split, cache_dir=str(cache_dir), **{**SMALL, **overrides})


def fingerprint(source):
    return [(e.id, e.text, e.audio.tobytes()) for e in source.examples()]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic_cache")


@pytest.fixture(scope="module")
def train(cache_dir):
    source = corpus(cache_dir)
    source.prepare()
    return source


def test_audio_is_16khz_float32_speech(train):
    examples = list(train.examples())
    assert len(train) == len(examples) == 6
    for example in examples:
        audio = example.audio
        assert example.sampling_rate == 16000
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
        seconds = audio.size / 16000
        assert 0.12 * len(example.text.split()) < seconds < 8.0
        assert np.sqrt(np.mean(audio**2)) > 0.02  # Not silence.
        # Speech pauses between words: its loudness varies over 20 ms frames.
        frames = audio[: audio.size // 320 * 320].reshape(-1, 320)
        loudness = np.sqrt(np.mean(frames**2, axis=1))
        assert np.quantile(loudness, 0.9) > 5 * np.quantile(loudness, 0.1)


def test_same_seed_gives_the_same_sentences_and_samples(train, tmp_path):
    again = corpus(tmp_path)
    assert fingerprint(again) == fingerprint(train)


def test_another_seed_gives_other_sentences(train, tmp_path):
    other = corpus(tmp_path, seed=1)
    assert not {e.text for e in other.examples()} & {e.text for e in train.examples()}


def test_splits_share_no_sentence(train, cache_dir):
    evaluation = corpus(cache_dir, split="eval")
    assert len(evaluation) == 3
    assert evaluation.cache_path == train.cache_path
    train_texts = {e.text for e in train.examples()}
    assert not train_texts & {e.text for e in evaluation.examples()}
    # At training sizes, across seeds, without synthesizing.
    for seed in (0, 1):
        plan = corpus_plan({**train.parameters, "num_train": 2000, "num_eval": 200, "seed": seed})
        train_texts = [p["utterance"].text for p in plan["train"]]
        eval_texts = [p["utterance"].text for p in plan["eval"]]
        assert len(set(train_texts)) == 2000 and len(set(eval_texts)) == 200
        assert {split_of(text) for text in train_texts} == {"train"}
        assert {split_of(text) for text in eval_texts} == {"eval"}


def test_voices_rates_and_pitches_vary(train):
    plan = corpus_plan({**train.parameters, "num_train": 200})
    utterances = [p["utterance"] for p in plan["train"]]
    assert len({u.voice for u in utterances}) == len(synthetic_source.DEFAULT_VOICES)
    assert {u.words_per_minute for u in utterances} <= set(range(140, 186))
    assert len({u.words_per_minute for u in utterances}) > 20
    assert len({u.pitch for u in utterances}) > 20


def test_cache_hit_reads_without_synthesizing(train, monkeypatch):
    cached = fingerprint(train)
    stamp = os.path.getmtime(os.path.join(train.cache_path, "train.npz"))

    def no_synthesis(utterances):
        raise AssertionError("the cached corpus was synthesized again")

    monkeypatch.setattr(synthetic_source, "speak_in_fresh_process", no_synthesis)
    start = time.perf_counter()
    reread = corpus(train.cache_dir)
    assert fingerprint(reread) == cached
    assert time.perf_counter() - start < 1.0
    assert os.path.getmtime(os.path.join(train.cache_path, "train.npz")) == stamp


def test_cache_layout(train):
    assert sorted(os.listdir(train.cache_dir)) == [os.path.basename(train.cache_path)]
    assert sorted(os.listdir(train.cache_path)) == [
        "eval.jsonl",
        "eval.npz",
        "parameters.json",
        "train.jsonl",
        "train.npz",
    ]
    with open(os.path.join(train.cache_path, "parameters.json")) as file:
        assert json.load(file) == train.parameters
    with open(os.path.join(train.cache_path, "train.jsonl")) as file:
        first = json.loads(file.readline())
    assert set(first) == {"id", "text", "voice", "words_per_minute", "pitch", "seconds"}


@pytest.mark.parametrize(
    "change",
    [
        {"num_train": 7},
        {"num_eval": 4},
        {"seed": 3},
        {"voices": ["en-us"]},
        {"words_per_minute": (140, 180)},
        {"pitch": (40, 60)},
    ],
)
def test_cache_key_covers_every_parameter(train, change):
    assert corpus(train.cache_dir, **change).cache_path != train.cache_path


def test_failed_synthesis_leaves_no_cache_entry(tmp_path):
    source = corpus(tmp_path, voices=["en-us", "xx-nowhere"], num_train=4)
    with pytest.raises(ValueError, match="espeak-ng has no voice 'xx-nowhere'"):
        source.prepare()
    assert os.listdir(tmp_path) == []


def test_shards_are_disjoint_and_cover_the_split(train):
    assert [len(s) for s in assert_shards_partition(train, num_shards=4)] == [2, 2, 1, 1]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"split": "test"}, r"Unknown split 'test'; allowed: 'train', 'eval'"),
        ({"num_train": -1}, r"`num_train` must be a non-negative int, got -1"),
        ({"voices": "en-us"}, r"`voices` must be a non-empty list"),
        ({"words_per_minute": (200, 100)}, r"`words_per_minute` must be a \(low, high\) pair"),
        ({"pitch": (0, 101)}, r"0 <= low <= high <= 100, got \(0, 101\)"),
    ],
)
def test_bad_parameters_are_named(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        corpus(tmp_path, **arguments)


@pytest.mark.slow
def test_whisper_tiny_en_understands_the_corpus(tiny_en, train):
    """The speech is intelligible: OpenAI's tiny.en transcribes it well."""
    examples = list(train.examples())
    transcripts = tiny_en.generate([e.audio for e in examples])
    assert word_error_rate([e.text for e in examples], transcripts) < 0.3
