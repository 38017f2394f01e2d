"""Transcribes audio files from the command line.

    python -m whisper.transcribe MODEL AUDIO [AUDIO ...] [options]

MODEL is anything `WhisperAudioToText.from_preset` loads: a built-in preset
name (`whisper_tiny_en`), a `kaggle://` or `hf://` handle, or a directory
holding a preset of ours or keras_hub's, a Hugging Face transformers
checkpoint or a CTranslate2 (faster-whisper) model. AUDIO files may be in any
format libsndfile reads (WAV, FLAC, OGG, MP3, ...), at any sampling rate and
with any number of channels.

Output, one line per file in the order given, printed as soon as the file
and those before it are done:

* by default `PATH<TAB>TEXT`;
* with `--json`, JSON Lines: one object per line,
  `{"path": ..., "text": ..., "duration": seconds, "windows": n}`.
  Lines rather than one array, so that output streams and each line is
  parsed on its own (`jq`, `pandas.read_json(lines=True)`).

Whitespace inside a text (newlines included) is collapsed to single spaces.
A file that cannot be read is reported on stderr, naming it, and is left out
of stdout; the other files are still transcribed.

Exit status: 0 when every file was transcribed, 1 when any could not be read,
2 when the model or the options cannot be used.

Limitations: audio longer than the model's 30 s input is cut into consecutive
fixed 30 s windows, each transcribed on its own and the texts joined with a
space. A word spoken across a window boundary may be lost or garbled, and no
timestamps are produced. Multilingual models need `--language` (or a
language stored in their preset): the language is not detected.

Example:

```python
from whisper.transcribe import main

exit_code = main(["/path/to/preset", "meeting.flac", "call.ogg", "--json"])
```
"""

import argparse
import collections
import dataclasses
import json
import sys

from whisper.audio_io import AudioLoadError
from whisper.audio_io import load_audio
from whisper.special_tokens import TASKS
from whisper.whisper_audio_to_text import WhisperAudioToText

EXIT_OK = 0
EXIT_UNREADABLE_AUDIO = 1
EXIT_UNUSABLE_MODEL = 2


@dataclasses.dataclass
class FileTranscript:
    """One input file: the texts of its windows, or why it was not read.

    Attributes:
        path: the file, as given.
        duration: seconds of audio.
        window_texts: one text per window; None until that window is decoded.
        error: the `AudioLoadError` when the file could not be read.
    """

    path: str
    duration: float = 0.0
    window_texts: list = dataclasses.field(default_factory=list)
    error: AudioLoadError | None = None

    @property
    def done(self):
        return self.error is not None or None not in self.window_texts

    @property
    def windows(self):
        return len(self.window_texts)

    @property
    def text(self):
        return " ".join(" ".join(self.window_texts).split())


def split_into_windows(waveform, window_samples):
    """Consecutive windows of `window_samples` samples; the last may be shorter."""
    return [
        waveform[start : start + window_samples]
        for start in range(0, len(waveform), window_samples)
    ]


def transcribe_files(model, paths, batch_size=8, max_length=None, jit_compile=True):
    """Yields a `FileTranscript` per path, in order, once it and those before are done.

    Windows of consecutive files share batches, so batches are full however
    short the files are. Files are read one at a time: besides the file just
    read, at most `batch_size - 1` windows wait in memory for their batch.

    Args:
        model: a `WhisperAudioToText` with a tokenizer.
        paths: audio file paths.
        batch_size: windows decoded together.
        max_length: most tokens per window, prompt included.
        jit_compile: decode with XLA.
    """
    converter = model.audio_converter
    window_samples = int(converter.sampling_rate * converter.max_audio_length)
    unfinished = collections.deque()
    pending = []  # (transcript, window index, samples) not yet decoded
    for path in paths:
        transcript, windows = _read_windows(path, converter.sampling_rate, window_samples)
        unfinished.append(transcript)
        pending += [(transcript, index, window) for index, window in enumerate(windows)]
        while len(pending) >= batch_size:
            _decode_windows(model, pending[:batch_size], max_length, jit_compile)
            del pending[:batch_size]
        yield from _pop_done(unfinished)
    if pending:
        _decode_windows(model, pending, max_length, jit_compile)
    yield from _pop_done(unfinished)


def _read_windows(path, sampling_rate, window_samples):
    try:
        waveform = load_audio(path, sampling_rate)
    except AudioLoadError as error:
        return FileTranscript(path, error=error), []
    windows = split_into_windows(waveform, window_samples)
    transcript = FileTranscript(
        path, duration=len(waveform) / sampling_rate, window_texts=[None] * len(windows)
    )
    return transcript, windows


def _decode_windows(model, pending, max_length, jit_compile):
    texts = model.generate(
        [window for _, _, window in pending],
        max_length=max_length,
        jit_compile=jit_compile,
    )
    for (transcript, index, _), text in zip(pending, texts):
        transcript.window_texts[index] = text


def _pop_done(unfinished):
    while unfinished and unfinished[0].done:
        yield unfinished.popleft()


def load_model(handle, language=None, task=None, max_length=None):
    """Loads a model to transcribe with, checking the options against it.

    Raises:
        ValueError: the model has no tokenizer, or it cannot take
            `language`, `task` or `max_length`.
        OSError: a remote handle could not be downloaded.
    """
    overrides = {"language": language, "task": task}
    model = WhisperAudioToText.from_preset(
        handle, **{key: value for key, value in overrides.items() if value is not None}
    )
    if model.tokenizer is None:
        raise ValueError("it has no tokenizer to build prompts and decode text with.")
    # Building the prompt now refuses a language or task the model lacks
    # before any audio is read.
    prompt_length = len(model.decoder_prompt_ids())
    limit = model.backbone.max_decoder_sequence_length
    if max_length is not None and not prompt_length < max_length <= limit:
        raise ValueError(
            f"--max-length must lie in [{prompt_length + 1}, {limit}] for this "
            f"model (its prompt has {prompt_length} tokens), got {max_length}."
        )
    return model


def format_transcript(transcript, as_json=False):
    """One output line: `PATH<TAB>TEXT`, or a JSON object."""
    if as_json:
        return json.dumps(
            {
                "path": transcript.path,
                "text": transcript.text,
                "duration": round(transcript.duration, 3),
                "windows": transcript.windows,
            },
            ensure_ascii=False,
        )
    return f"{transcript.path}\t{transcript.text}"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m whisper.transcribe",
        description=(
            "Transcribe audio files with a Whisper model. Prints one line per "
            "file, in the order given: PATH<TAB>TEXT, or with --json one JSON "
            "object per line (JSON Lines)."
        ),
        epilog=(
            "Audio longer than 30 s is transcribed in consecutive fixed 30 s "
            "windows whose texts are joined; words across a boundary may be "
            "lost, and no timestamps are produced. Exit status: 0 when every "
            "file was transcribed, 1 when any could not be read (reported on "
            "stderr; the others are still transcribed), 2 when the model or "
            "the options cannot be used."
        ),
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help=(
            "built-in preset name (e.g. whisper_tiny_en), kaggle:// or hf:// "
            "handle, or a directory holding a preset, a Hugging Face "
            "transformers checkpoint or a CTranslate2 model"
        ),
    )
    parser.add_argument(
        "audio",
        metavar="AUDIO",
        nargs="+",
        help="audio files in any format libsndfile reads (wav, flac, ogg, mp3, ...)",
    )
    parser.add_argument(
        "--language",
        help=(
            "language code such as 'de' (multilingual models); default: the "
            "language saved with the model"
        ),
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        help="'translate' gives English text from other languages; default: the model's",
    )
    parser.add_argument(
        "--max-length",
        type=_positive_int,
        help=(
            "most tokens per 30 s window, prompt included; default: the "
            "model's max_decoder_sequence_length (448 for OpenAI's models)"
        ),
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=8,
        help="30 s windows decoded together (default: %(default)s)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON Lines instead of PATH<TAB>TEXT"
    )
    parser.add_argument(
        "--no-jit",
        dest="jit_compile",
        action="store_false",
        help="decode without XLA: no wait for compilation, but slower decoding",
    )
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def main(argv=None):
    """Runs the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        model = load_model(args.model, args.language, args.task, args.max_length)
    except (ValueError, OSError, ImportError) as error:
        # ImportError: a remote handle's client library (kagglehub,
        # huggingface_hub) is not installed.
        print(f"error: cannot use model '{args.model}': {error}", file=sys.stderr)
        return EXIT_UNUSABLE_MODEL
    any_unreadable = False
    for transcript in transcribe_files(
        model, args.audio, args.batch_size, args.max_length, args.jit_compile
    ):
        if transcript.error is not None:
            print(f"error: {transcript.error}", file=sys.stderr, flush=True)
            any_unreadable = True
        else:
            print(format_transcript(transcript, args.json), flush=True)
    return EXIT_UNREADABLE_AUDIO if any_unreadable else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
