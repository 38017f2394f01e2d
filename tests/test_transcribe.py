import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import srt
from conftest import word_error_rate
from model_factory import tiny_backbone

from benchmarks.long_recording import long_recording
from whisper.transcription.cli import main
from whisper.whisper_audio_to_text import WhisperAudioToText
from whisper.whisper_tokenizer import WhisperTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_DECODER_LENGTH = 16


@pytest.fixture(scope="module")
def preset_dir(english_keras_hub_assets, tmp_path_factory):
    """A random-weight English-only model with tiny.en's tokenizer, saved."""
    backbone = tiny_backbone(seed=0, max_decoder_sequence_length=MAX_DECODER_LENGTH)
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


@pytest.mark.slow
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


def test_json_lines_give_language_duration_and_timed_segments(preset_dir, write_speech, capsys):
    paths = [write_speech("long.wav", 70), write_speech("short.wav", 2)]

    code, out, err = run(capsys, preset_dir, *paths, "--json", "--no-jit")

    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [record["path"] for record in records] == paths
    assert [record["duration"] for record in records] == [70.0, 2.0]
    for record in records:
        assert set(record) == {"path", "text", "language", "duration", "segments"}
        assert record["language"] is None
        for segment in record["segments"]:
            assert 0 <= segment["start"] <= segment["end"] <= record["duration"] + 30


def test_every_output_format_is_written_per_file(preset_dir, write_speech, tmp_path, capsys):
    paths = [write_speech("one.wav", 3), write_speech("two.flac", 2)]
    output_dir = tmp_path / "subtitles"

    code, out, err = run(
        capsys, preset_dir, *paths, "--output-format", "all", "--output-dir", output_dir, "--no-jit"
    )

    assert code == 0, err
    written = sorted(os.listdir(output_dir))
    assert written == sorted(
        f"{n}.{f}" for n in ("one", "two") for f in ("txt", "json", "srt", "vtt")
    )
    text = out.splitlines()[0].split("\t")[1]
    assert json.loads((output_dir / "one.json").read_text())["text"] == text
    list(srt.parse((output_dir / "one.srt").read_text()))
    assert (output_dir / "one.vtt").read_text().startswith("WEBVTT")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--output-format", "ass"], "--output-format: must be all or comma-separated formats"),
        (["--temperature", "0,hot"], "--temperature: must be comma-separated temperatures"),
        (["--beam-size", "0"], "--beam-size: must be a positive integer"),
    ],
)
def test_bad_options_are_one_usage_line(options, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["model", "a.wav", *options])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_clashing_output_names_are_refused_before_the_model_loads(tmp_path, capsys):
    code, out, err = run(
        capsys, tmp_path / "no_model", "a/talk.wav", "b/talk.flac", "--output-format", "srt"
    )
    assert code == 2 and out == ""
    assert "a/talk.wav and b/talk.flac would both write ./talk.srt" in err
    assert "cannot use model" not in err


def test_progress_bar_on_stderr(preset_dir, write_speech, capsys):
    code, out, err = run(
        capsys, preset_dir, write_speech("a.wav", 40), "--progress", "on", "--no-jit"
    )
    assert code == 0, err
    assert re.search(r"a\.wav \[#{30}\] 40\.0/40\.0 s\n", err), err


def test_unreadable_files_are_named_on_stderr_and_the_others_transcribed(
    preset_dir, write_speech, tmp_path, capsys
):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all" * 32)
    first, last = write_speech("first.wav", 1), write_speech("last.wav", 1)

    code, out, err = run(capsys, preset_dir, first, garbage, last, "--no-jit")

    assert code == 1
    assert [line.split("\t")[0] for line in out.splitlines()] == [first, last]
    garbage_error = err.strip().splitlines()[-1]
    assert str(garbage) in garbage_error and "libsndfile" in garbage_error


def test_missing_inputs_are_refused_before_the_model_loads(write_speech, tmp_path):
    # In a process where importing TensorFlow fails: the inputs are checked
    # before anything is loaded, and each missing one is named.
    blocker = tmp_path / "blocker" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("TensorFlow was imported")\n')
    missing, folder = tmp_path / "missing.flac", tmp_path / "folder.wav"
    folder.mkdir()
    present = write_speech("present.wav", 1)

    completed = subprocess.run(
        [sys.executable, "-m", "whisper.transcribe", "tiny_en", present, missing, folder],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(blocker.parent)},
    )

    assert completed.returncode == 1 and completed.stdout == "", completed.stderr
    assert completed.stderr.splitlines() == [
        f"error: Cannot load audio '{missing}': no such file.",
        f"error: Cannot load audio '{folder}': it is a directory.",
    ]


def test_a_preset_to_download_offline_is_one_line_before_anything_loads(write_speech, capsys):
    code, out, err = run(capsys, "whisper_tiny_en", write_speech("a.wav", 1))

    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith("error: cannot use model 'whisper_tiny_en': Preset 'kaggle://")
    assert "downloads are disabled (WHISPER_KERAS_OFFLINE=1)" in line
    assert "pass its local directory instead" in line


def test_a_model_that_cannot_be_loaded_exits_2(tmp_path, write_speech, capsys):
    missing_model = tmp_path / "no_such_model"

    code, out, err = run(capsys, missing_model, write_speech("a.wav", 1))

    assert code == 2
    assert out == ""
    assert f"cannot use model '{missing_model}'" in err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--language", "de"], "English-only"),
        (["--suppress-words", "Kubernetes"], "--suppress-words 'Kubernetes' is 4 tokens"),
        (["--suppress-tokens", "99999"], r"--suppress-tokens \[99999\] lie outside the vocabulary"),
    ],
)
def test_options_the_model_cannot_take_exit_2(preset_dir, write_speech, capsys, options, message):
    code, out, err = run(capsys, preset_dir, write_speech("a.wav", 1), *options)

    assert code == 2
    assert out == ""
    assert re.search(message, err)


def test_help_runs_as_a_module():
    completed = subprocess.run(
        [sys.executable, "-m", "whisper.transcribe", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: python -m whisper.transcribe")
    assert "--output-format" in completed.stdout and "--beam-size" in completed.stdout


def test_language_auto_detects_and_reports_each_files_language(
    multilingual_keras_hub_assets, write_speech, tmp_path, capsys
):
    tokenizer = WhisperTokenizer(**multilingual_keras_hub_assets)
    # Multilingual Whisper's vocabulary, timestamps included.
    backbone = tiny_backbone(51865, seed=1, max_decoder_sequence_length=MAX_DECODER_LENGTH)
    model = WhisperAudioToText(backbone, tokenizer=tokenizer, language="de")
    preset = str(tmp_path / "multilingual")
    model.save_to_preset(preset)
    path = write_speech("a.wav", 2)

    code, out, err = run(capsys, preset, path, "--language", "auto", "--json", "--no-jit")

    assert code == 0, err
    record = json.loads(out)
    # The language whose token is likeliest after <|startoftranscript|>.
    features = model.audio_converter(soundfile.read(path, dtype="float32")[0][None])
    probabilities = model.detect_language(np.asarray(features))[0]
    expected = max(probabilities, key=probabilities.get)
    assert record["language"] == expected
    assert record["language_probability"] == pytest.approx(probabilities[expected], abs=1e-4)
    assert f"{path}: detected language {expected}" in err


def test_tensorflow_start_up_lines_are_silenced(preset_dir, write_speech):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "whisper.transcribe",
            preset_dir,
            write_speech("a.wav", 1),
            "--no-jit",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""


@pytest.mark.slow
@pytest.mark.parametrize(
    "options, most_errors",
    # 72 words: tiny.en mishears 7 of espeak-ng's words without timestamps
    # (the tokens CTranslate2 decodes), 9 with them.
    [(["--without-timestamps"], 7), ([], 9)],
)
def test_real_tiny_en_transcribes_speech_clips(
    tiny_en_ctranslate2_dir, speech_clips, capsys, options, most_errors
):
    paths = [path for path, _ in speech_clips]

    code, out, err = run(capsys, tiny_en_ctranslate2_dir, *paths, "--json", *options)

    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [record["path"] for record in records] == paths
    error_rate = word_error_rate([text for _, text in speech_clips], [r["text"] for r in records])
    assert error_rate <= most_errors / 72 + 1e-9, out
    for record in records:
        assert record["language"] == "en" or record["language"] is None
        assert len(record["segments"]) == 1 and record["segments"][0]["start"] == 0.0


@pytest.mark.slow
def test_real_tiny_en_writes_two_minutes_to_srt_batched_with_beams(
    tiny_en_ctranslate2_dir, tmp_path, capsys
):
    # The default (sequential, greedy) runs in the documented commands' test.
    options = ["--batched", "--beam-size", "2"]
    recording = long_recording()
    path = tmp_path / "talk.flac"
    soundfile.write(path, recording.waveform, 16000)

    code, out, err = run(
        capsys,
        tiny_en_ctranslate2_dir,
        path,
        "--output-format",
        "srt",
        "--output-dir",
        tmp_path,
        *options,
    )

    assert code == 0, err
    cues = list(srt.parse((tmp_path / "talk.srt").read_text()))
    assert len(cues) >= 12
    text = " ".join(cue.content for cue in cues)
    assert word_error_rate([recording.text], [text]) <= 0.2, text
    assert out.split("\t")[1].strip() == " ".join(text.split())


@pytest.mark.slow
def test_an_initial_prompt_helps_spell_what_it_names(tiny_en_ctranslate2_dir, speech_clips, capsys):
    (fox,) = [path for path, _ in speech_clips if path.endswith("quick_brown_fox.wav")]
    (truth,) = [text for path, text in speech_clips if path == fox]

    _, plain, _ = run(capsys, tiny_en_ctranslate2_dir, fox)
    _, prompted, _ = run(capsys, tiny_en_ctranslate2_dir, fox, "--initial-prompt", truth)
    # Without conditioning on earlier windows the prompt still opens the first.
    _, unconditioned, _ = run(
        capsys,
        tiny_en_ctranslate2_dir,
        fox,
        *("--initial-prompt", truth, "--no-condition-on-previous-text"),
    )

    plain_wer = word_error_rate([truth], [plain.split("\t")[1]])
    prompted_wer = word_error_rate([truth], [prompted.split("\t")[1]])
    assert prompted_wer < plain_wer, (plain, prompted)
    assert unconditioned == prompted


@pytest.mark.slow
def test_the_documented_transcription_commands_run_as_shown(tmp_path):
    """Every docs line that runs `whisper.transcribe` or makes the long
    recording, in bash (for its `$(...)` and globs), from a directory that
    holds the committed clips."""
    from doc_commands import docs_lines

    lines = [
        line.split(" && ", 1)[-1]
        for line in docs_lines()
        if "-m whisper.transcribe" in line or "-m benchmarks.long_recording" in line
    ]
    assert any("--output-format srt" in line for line in lines), lines
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for line in lines:
        completed = subprocess.run(
            ["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, env=env
        )
        assert completed.returncode == 0, (line, completed.stderr[-2000:])
    cues = list(srt.parse((tmp_path / "subtitles" / "talk.srt").read_text()))
    truth = json.loads((tmp_path / "talk.json").read_text())
    text = " ".join(cue.content for cue in cues)
    assert word_error_rate([truth["text"]], [text]) <= 0.2


@pytest.mark.slow
def test_suppressed_words_are_never_written(tiny_en_ctranslate2_dir, speech_clips, capsys):
    (lights,) = [path for path, _ in speech_clips if path.endswith("kitchen_lights.wav")]

    _, plain, _ = run(capsys, tiny_en_ctranslate2_dir, lights)
    _, suppressed, err = run(
        capsys, tiny_en_ctranslate2_dir, lights, "--suppress-words", "kitchen,lights"
    )

    assert " kitchen" in plain and " lights" in plain
    text = suppressed.split("\t")[1]
    assert " kitchen" not in text and " lights" not in text, err
    assert text.startswith("Can you turn off the")
