"""Which speech examples can be trained on, and the reason for those that cannot.

`ExampleFilter` turns one example's transcript into training target ids and
its audio (a file path, encoded bytes or an in-memory array) into a 16 kHz
mono float32 waveform through `whisper.audio_io`, checking each against the
limits a Whisper model has. An example that fails raises `SkippedExample`,
which names a stable reason (one of `SKIP_REASONS`) and what exactly is
wrong; the data pipeline catches it, counts it in a `SkipCounter` and moves
on.

Example:

```python
import numpy as np
from data_pipelines.example_filter import ExampleFilter, SkippedExample

example_filter = ExampleFilter(target_builder=None, min_audio_seconds=0.1, max_audio_seconds=30)
silence = np.zeros((16000 * 2, 1), "float32")  # (samples, channels)
waveform = example_filter.waveform("clip-1", silence, 16000, "", b"")
try:
    example_filter.waveform("clip-2", np.zeros((0, 1), "float32"), 16000, "", b"")
except SkippedExample as skipped:
    print(skipped.reason, skipped.detail)  # empty_audio it holds no audio samples
```
"""

import tensorflow as tf

from data_pipelines.training_target import TrainingTarget
from whisper import audio_io

# Why an example is skipped: stable names, for logs and run.json. Audio first,
# by what `whisper.audio_io.AudioLoadError.kind` says:
AUDIO_NOT_FOUND = "audio_not_found"  # No file at the path.
NOT_A_FILE = "not_a_file"  # The path is a directory (or a pipe, a device).
UNREADABLE_AUDIO = "unreadable_audio"  # Random bytes, a truncated header: undecodable.
EMPTY_FILE = "empty_file"  # A file (or encoded bytes) of zero bytes.
EMPTY_AUDIO = "empty_audio"  # Decodes to zero samples (a header and nothing after it).
NON_FINITE_AUDIO = "non_finite_audio"  # NaN or infinite samples.
# Then what the model can use:
TOO_SHORT = "too_short"  # Shorter than `min_audio_seconds`.
TOO_LONG = "too_long"  # Longer than `max_audio_seconds`.
EMPTY_TEXT = "empty_text"  # An empty or blank transcript.
LABEL_TOO_LONG = "label_too_long"  # More decoder tokens than `max_label_tokens`.
# A language the tokenizer has no prompt for (see `target_builder`).
UNSUPPORTED_LANGUAGE = "unsupported_language"
# Counted by the pipeline once features are computed: finite samples can
# still overflow the power spectrum.
NON_FINITE_FEATURES = "non_finite_features"
# Audio that `whisper.audio_io` refuses, by its `AudioLoadError.kind`.
AUDIO_SKIP_REASONS = {
    audio_io.MISSING: AUDIO_NOT_FOUND,
    audio_io.NOT_A_FILE: NOT_A_FILE,
    audio_io.UNREADABLE: UNREADABLE_AUDIO,
    audio_io.EMPTY_FILE: EMPTY_FILE,
    audio_io.EMPTY: EMPTY_AUDIO,
    audio_io.NON_FINITE: NON_FINITE_AUDIO,
}
# Every reason the data pipeline skips an example for. (Rows a manifest
# cannot parse are skipped before they are examples, for the reasons in
# `manifest_source.ROW_SKIP_REASONS`.)
SKIP_REASONS = (
    *AUDIO_SKIP_REASONS.values(),
    TOO_SHORT,
    TOO_LONG,
    EMPTY_TEXT,
    LABEL_TOO_LONG,
    UNSUPPORTED_LANGUAGE,
    NON_FINITE_FEATURES,
)


class SkippedExample(Exception):
    """An example that cannot be used.

    Attributes:
        reason: one of `SKIP_REASONS`. Audio that `whisper.audio_io`
            refuses (a file, encoded bytes or an in-memory array) is named
            after its `AudioLoadError.kind` (`AUDIO_SKIP_REASONS`).
        detail: str. What exactly is wrong, for logs: for files, their
            `AudioLoadError` message, which names the path.
    """

    def __init__(self, reason, detail):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ExampleFilter:
    """Checks and prepares one speech example's transcript and audio.

    Args:
        target_builder: a `TargetBuilder` giving training targets, or `None`
            where only the text is needed (evaluation); then transcripts are
            only checked to be non-empty. Targets with more decoder
            positions (target ids less one: the prompt, the text and end of
            text, shifted) than its `max_label_tokens` are
            `"label_too_long"`.
        min_audio_seconds: float (`data.min_audio_seconds`). Shorter audio
            is skipped as `"too_short"`.
        max_audio_seconds: float (`data.max_audio_seconds`). Longer audio is
            skipped as `"too_long"` rather than cut, since its transcript
            would then describe audio the model does not hear.
        sampling_rate: int. Rate of the returned waveforms, in Hz: the audio
            converter's.
    """

    def __init__(
        self,
        target_builder,
        *,
        min_audio_seconds,
        max_audio_seconds,
        sampling_rate=audio_io.WHISPER_SAMPLING_RATE,
    ):
        if not 0 <= min_audio_seconds < max_audio_seconds:
            raise ValueError(
                f"Audio limits must satisfy 0 <= min_audio_seconds < "
                f"max_audio_seconds, got min_audio_seconds={min_audio_seconds} "
                f"and max_audio_seconds={max_audio_seconds}."
            )
        self.target_builder = target_builder
        self.sampling_rate = sampling_rate
        self.min_audio_seconds = min_audio_seconds
        self.max_audio_seconds = max_audio_seconds

    def target(self, example, position=0):
        """The example's `TrainingTarget` (no ids without a target builder).

        `position` is the example's place in its stream, which with the
        builder's seed draws its form (see `TargetBuilder`).

        Raises:
            SkippedExample: `"empty_text"`, `"label_too_long"` or
                `"unsupported_language"`.
        """
        text = example.text
        if text is None or not text.strip():
            # Usually a missing transcript rather than deliberate silence;
            # trained on, it would teach the model to hear nothing.
            raise SkippedExample(EMPTY_TEXT, f"the transcript is {text!r}")
        if self.target_builder is None:
            return TrainingTarget([])
        target = self.target_builder.target(example, position)
        decoder_length = len(target.ids) - 1
        max_label_tokens = self.target_builder.max_label_tokens
        if decoder_length > max_label_tokens:
            raise SkippedExample(
                LABEL_TOO_LONG, f"{decoder_length} decoder tokens > {max_label_tokens}"
            )
        return target

    def waveform(self, example_id, audio, sampling_rate, path, audio_bytes):
        """The example's audio as a float32 mono waveform at `sampling_rate`.

        Exactly one source of audio is used: `path` when non-empty, else
        `audio_bytes` when non-empty, else the `(samples, channels)` array
        `audio` recorded at `sampling_rate` Hz.

        Raises:
            SkippedExample: one of `AUDIO_SKIP_REASONS`' reasons,
                `"too_short"` or `"too_long"`.
        """
        if path:
            waveform = self._load_file(path)
        elif audio_bytes:
            waveform = self._decode_bytes(example_id, audio_bytes)
        else:
            waveform = self._from_array(example_id, audio, sampling_rate)
        self._check_duration(len(waveform) / self.sampling_rate)
        return waveform

    def _load_file(self, path):
        try:
            if _is_url(path):
                # Cloud storage (gs://, s3://) is read through TensorFlow's
                # file systems; libsndfile only opens local files.
                with tf.io.gfile.GFile(path, "rb") as file:
                    data = file.read()
                return audio_io.decode_audio(data, self.sampling_rate, name=path)
            return audio_io.load_audio(path, self.sampling_rate)
        except audio_io.AudioLoadError as error:
            raise SkippedExample(_audio_reason(error), _message(error)) from error
        except tf.errors.NotFoundError as error:
            raise SkippedExample(
                AUDIO_NOT_FOUND, f"Cannot read '{path}': {error.message}"
            ) from error
        except tf.errors.OpError as error:
            raise SkippedExample(
                UNREADABLE_AUDIO, f"Cannot read '{path}': {error.message}"
            ) from error

    def _decode_bytes(self, example_id, audio_bytes):
        try:
            return audio_io.decode_audio(
                audio_bytes, self.sampling_rate, name=f"bytes of {example_id}"
            )
        except audio_io.AudioLoadError as error:
            raise SkippedExample(_audio_reason(error), _message(error)) from error

    def _from_array(self, example_id, audio, sampling_rate):
        try:
            return audio_io.prepare_waveform(
                audio, sampling_rate, self.sampling_rate, name=example_id
            )
        except audio_io.AudioLoadError as error:
            raise SkippedExample(_audio_reason(error), error.reason) from error

    def _check_duration(self, seconds):
        if seconds < self.min_audio_seconds:
            raise SkippedExample(TOO_SHORT, f"{seconds:.3f} s < {self.min_audio_seconds} s")
        if seconds > self.max_audio_seconds:
            raise SkippedExample(TOO_LONG, f"{seconds:.3f} s > {self.max_audio_seconds} s")


def _audio_reason(error):
    """The skip reason of an `AudioLoadError`, by its kind."""
    return AUDIO_SKIP_REASONS.get(error.kind, UNREADABLE_AUDIO)


def _is_url(path):
    return "://" in path


def _message(error):
    """An error's message without its final full stop, to join with others."""
    return str(error).rstrip(".")
