"""Per-example languages, timestamps and prompts through `python -m train`.

A small random multilingual model trains on a manifest whose rows name
their language, carry segments and belong to recordings; its preset keeps
the run's language and task, which `generate()` and `python -m
whisper.transcribe` then use by default.
"""

import json

import numpy as np
import pytest
from doc_commands import module_arguments
from pipeline_settings import pipeline_settings
from train_cli import assert_trained
from train_cli import run_module
from train_cli import run_train

from data_pipelines.manifest_source import ManifestSource
from data_pipelines.pipeline import build_dataset
from whisper import WhisperAudioConverter
from whisper import WhisperAudioToText
from whisper import WhisperTokenizer

LANGUAGES = ["de", "fr", None]
# The docs' command for these targets, run from the manifests' directory.
[DOCS_ARGUMENTS] = [
    arguments for arguments in module_arguments("train") if "data.timestamps=true" in arguments
]


@pytest.fixture(scope="module")
def multilingual_tokenizer_json(multilingual_keras_hub_assets, tmp_path_factory):
    path = tmp_path_factory.mktemp("multilingual") / "tokenizer.json"
    path.write_text(WhisperTokenizer(**multilingual_keras_hub_assets).to_tokenizer_json())
    return path


@pytest.fixture(scope="module")
def manifests(speech_clips, tmp_path_factory):
    """train.jsonl and dev.jsonl: languages by row, one recording, segments."""
    directory = tmp_path_factory.mktemp("manifests")
    for name, clips in (("train", speech_clips[:6]), ("dev", speech_clips[6:])):
        with open(directory / f"{name}.jsonl", "w", encoding="utf-8") as file:
            for index, (path, text) in enumerate(clips):
                row = {"audio": path, "text": text, "recording": name}
                if LANGUAGES[index % 3]:
                    row["language"] = LANGUAGES[index % 3]
                row["segments"] = [{"start": 0.0, "end": 1.0, "text": text}]
                file.write(json.dumps(row) + "\n")
    return directory


def test_each_row_is_prompted_in_its_language(multilingual_tokenizer_json, manifests):
    tokenizer = WhisperTokenizer.from_tokenizer_json(str(multilingual_tokenizer_json))
    dataset = build_dataset(
        ManifestSource(manifests / "train.jsonl"),
        tokenizer,
        WhisperAudioConverter(pad_to_max_audio_length=False),
        batch_size=6,
        training=False,
        **pipeline_settings(build_dataset, clip_length_windows=True, language="en"),
    )
    x, _ = next(iter(dataset))
    languages = [tokenizer.id_to_token(i) for i in x["decoder_token_ids"].numpy()[:, 1]]
    assert languages == ["<|de|>", "<|fr|>", "<|en|>"] * 2


@pytest.mark.slow
def test_a_multilingual_run_keeps_its_language_for_generation_and_transcription(
    multilingual_tokenizer_json, manifests, speech_clips, tmp_path
):
    run_dir = tmp_path / "run"
    completed = run_train(
        *DOCS_ARGUMENTS,
        "debug=fast",
        "tracker=console",
        "model.architecture.vocabulary_size=51865",
        f"model.tokenizer={multilingual_tokenizer_json}",
        "model.language=de",
        f"run_dir={run_dir}",
        cwd=manifests,
    )
    assert_trained(completed, run_dir)
    preset = run_dir / "preset"
    task = json.loads((preset / "task.json").read_text())["config"]
    assert (task["language"], task["task"]) == ("de", "transcribe")
    model = WhisperAudioToText.from_preset(str(preset))
    tokenizer = model.tokenizer
    assert model.decoder_prompt_ids() == tokenizer.decoder_prompt_ids(language="de")
    assert isinstance(model.generate(np.zeros(16000, "float32"), max_length=16)[0], str)
    transcribed = run_module(
        "whisper.transcribe", str(preset), speech_clips[0][0], "--json", "--without-timestamps"
    )
    assert transcribed.returncode == 0, transcribed.stderr[-3000:]
    assert json.loads(transcribed.stdout.splitlines()[0])["language"] == "de"
