import json
import pathlib
import re
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import soundfile
from conftest import word_error_rate

from whisper.audio_io import load_audio
from whisper.transcribe import main
from whisper.transcribe import transcribe_files
from whisper.whisper_audio_to_text import WhisperAudioToText
from whisper.whisper_backbone import WhisperBackbone
from whisper.whisper_tokenizer import WhisperTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_DECODER_LENGTH = 8


@pytest.fixture(scope="module")
def preset_dir(english_keras_hub_assets, tmp_path_factory):
    """A random-weight English-only model with tiny.en's tokenizer, saved."""
    keras.utils.set_random_seed(0)
    backbone = WhisperBackbone(
        vocabulary_size=51864,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_decoder_sequence_length=MAX_DECODER_LENGTH,
    )
    tokenizer = WhisperTokenizer(**english_keras_hub_assets)
    directory = str(tmp_path_factory.mktemp("random_tiny"))
    WhisperAudioToText(backbone, tokenizer=tokenizer).save_to_preset(directory)
    return directory


@pytest.fixture
def write_speech(tmp_path, make_waveform):
    """`write_speech(name, seconds, rate=16000, channels=1)` writes a clip."""

    def write(name, seconds, rate=16000, channels=1):
        audio = make_waveform("speech", seconds * rate / 16000)
        path = tmp_path / name
        soundfile.write(path, np.stack([audio] * channels, axis=1), rate)
        return str(path)

    return write


def run(capsys, *argv):
    """Runs the command line in-process; returns (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prints_one_tab_separated_line_per_file_in_input_order(preset_dir, write_speech, capsys):
    paths = [
        write_speech("b.ogg", 3),
        write_speech("a.wav", 2),
        write_speech("c_stereo.flac", 4, rate=44100, channels=2),
    ]

    code, out, err = run(capsys, preset_dir, *paths)

    assert code == 0, err
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == paths
    for line in lines:
        path, text = line.split("\t")
        assert text and text == " ".join(text.split())


def test_json_lines_give_duration_and_30_second_windows(preset_dir, write_speech, capsys):
    paths = [write_speech("long.wav", 70), write_speech("short.wav", 2)]

    code, out, err = run(capsys, preset_dir, *paths, "--json", "--batch-size", 2, "--no-jit")

    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    for record in records:
        assert set(record) == {"path", "text", "duration", "windows"}
        assert isinstance(record["text"], str)
    assert [record["path"] for record in records] == paths
    assert [record["duration"] for record in records] == [70.0, 2.0]
    assert [record["windows"] for record in records] == [3, 1]


def test_unreadable_files_are_named_on_stderr_and_the_others_transcribed(
    preset_dir, write_speech, tmp_path, capsys
):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all" * 32)
    missing = tmp_path / "missing.flac"
    first, last = write_speech("first.wav", 1), write_speech("last.wav", 1)

    code, out, err = run(capsys, preset_dir, first, garbage, missing, last, "--no-jit")

    assert code == 1
    assert [line.split("\t")[0] for line in out.splitlines()] == [first, last]
    garbage_error, missing_error = err.strip().splitlines()[-2:]
    assert str(garbage) in garbage_error and "libsndfile" in garbage_error
    assert str(missing) in missing_error and "no such file" in missing_error


def test_a_model_that_cannot_be_loaded_exits_2(tmp_path, write_speech, capsys):
    missing_model = tmp_path / "no_such_model"

    code, out, err = run(capsys, missing_model, write_speech("a.wav", 1))

    assert code == 2
    assert out == ""
    assert f"cannot use model '{missing_model}'" in err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--max-length", MAX_DECODER_LENGTH + 1], r"--max-length must lie in \[3, 8\]"),
        (["--max-length", 2], r"--max-length must lie in \[3, 8\]"),
        (["--language", "de"], "English-only"),
    ],
)
def test_options_the_model_cannot_take_exit_2(preset_dir, write_speech, capsys, options, message):
    code, out, err = run(capsys, preset_dir, write_speech("a.wav", 1), *options)

    assert code == 2
    assert out == ""
    assert re.search(message, err)


class WindowEchoModel:
    """Stands in for a model: each window's text names its first sample."""

    audio_converter = types.SimpleNamespace(sampling_rate=1000, max_audio_length=1)

    def __init__(self):
        self.batch_sizes = []

    def generate(self, audio, max_length=None, jit_compile=True):
        self.batch_sizes.append(len(audio))
        return [f" w{round(window[0] * 100)}\n" for window in audio]


def write_windows(path, values, samples_per_window=1000):
    """A 1 kHz file holding each value for `samples_per_window` samples."""
    audio = np.repeat(np.asarray(values, "float32"), samples_per_window)
    soundfile.write(path, audio, 1000, subtype="FLOAT")
    return str(path)


def test_windows_share_batches_across_files_and_join_in_order(tmp_path):
    model = WindowEchoModel()
    three_windows = write_windows(tmp_path / "three.wav", [0.11, 0.12, 0.13])
    # Half a window at the end still makes a window of its own.
    one_and_a_half = write_windows(tmp_path / "partial.wav", [0.21], 1500)
    unreadable = str(tmp_path / "missing.wav")
    two_windows = write_windows(tmp_path / "two.wav", [0.41, 0.42])
    paths = [three_windows, one_and_a_half, unreadable, two_windows]

    transcripts = list(transcribe_files(model, paths, batch_size=4))

    assert [t.path for t in transcripts] == paths
    assert [t.text for t in transcripts] == ["w11 w12 w13", "w21 w21", "", "w41 w42"]
    assert [t.windows for t in transcripts] == [3, 2, 0, 2]
    assert transcripts[1].duration == 1.5
    assert unreadable in str(transcripts[2].error)
    assert model.batch_sizes == [4, 3]


def test_help_runs_as_a_module():
    completed = subprocess.run(
        [sys.executable, "-m", "whisper.transcribe", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: python -m whisper.transcribe")
    assert "--json" in completed.stdout and "30 s windows" in completed.stdout


@pytest.mark.slow
def test_real_tiny_en_transcribes_speech_clips_and_long_audio(
    tiny_en_ctranslate2_dir, speech_clips, tmp_path, capsys
):
    clips = speech_clips
    (first, _), (second, _) = clips[:2]
    # First clip, silence up to exactly 30 s, second clip: its two windows
    # are the two clips as they are transcribed alone.
    first_audio, second_audio = load_audio(first), load_audio(second)
    silence = np.zeros(16000 * 30 - len(first_audio), "float32")
    joined = np.concatenate([first_audio, silence, second_audio])
    joined_path = tmp_path / "joined.wav"
    soundfile.write(joined_path, joined, 16000, subtype="FLOAT")
    paths = [path for path, _ in clips] + [str(joined_path)]

    # 10 windows in two equal batches: one XLA compilation.
    code, out, err = run(capsys, tiny_en_ctranslate2_dir, *paths, "--json", "--batch-size", 5)

    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [record["path"] for record in records] == paths
    error_rate = word_error_rate(
        [text for _, text in clips], [record["text"] for record in records[:-1]]
    )
    # tiny.en mishears a few of espeak-ng's words (about 10% of them).
    assert error_rate <= 0.12, out
    assert records[-1]["windows"] == 2
    assert records[-1]["text"] == f"{records[0]['text']} {records[1]['text']}"
