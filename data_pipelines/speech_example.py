"""`SpeechExample`, the record every speech source yields.

A record names one utterance and its transcript, and says where its audio is
in exactly one of three ways: samples already in memory (`audio` with their
`sampling_rate`), a file `path` (local, or a `gs://`-style URL), or the
encoded bytes of a file (`audio_bytes`). Sources do not decode or resample:
the input pipeline turns every record into a 16 kHz float32 mono waveform
through `whisper.audio_io`, where an unreadable file is skipped and counted
rather than stopping training.

Example:

```python
import numpy as np
from data_pipelines.speech_example import SpeechExample
from whisper.transcription.transcript import Segment

tone = np.sin(np.arange(16000) / 10).astype("float32")
in_memory = SpeechExample(id="tone", text="a tone", audio=tone, sampling_rate=16000)
on_disk = SpeechExample(id="clip-1", text="hello there", path="/data/clip-1.flac")
on_disk.audio_kind  # "path"

timed = SpeechExample(
    id="clip-2", text="Hello. Bye.", path="/data/clip-2.flac", language="en",
    previous_text="Good morning.",
    segments=(Segment(0.0, 1.2, "Hello."), Segment(1.5, 2.0, "Bye.")),
)
```
"""

import dataclasses
import numbers

import numpy as np

from whisper import audio_io
from whisper.special_tokens import MAX_TIMESTAMP_SECONDS
from whisper.transcription.transcript import Segment


# Equality would compare `audio` arrays element-wise, which has no single
# truth value; records are compared by identity, their ids by value.
@dataclasses.dataclass(frozen=True, eq=False)
class SpeechExample:
    """One utterance: an id, its transcript and where its audio is.

    Attributes:
        id: str. Unique within its source; error messages and skip counts
            name examples by it.
        text: str. The transcript, as the model should write it.
        audio: samples of shape `(samples,)` or `(samples, channels)`:
            floats in [-1, 1] or 8-, 16- or 32-bit integer PCM (scaled by the
            pipeline, see `whisper.audio_io.pcm_scale`). Set together with
            `sampling_rate`.
        sampling_rate: int. The rate of `audio`, in Hz.
        path: str. An audio file any `whisper.audio_io` reader accepts.
        audio_bytes: bytes. The whole encoded file (WAV, FLAC, ...).
        language: str or None. The language spoken, a Whisper code or name
            (`"de"`, `"german"`); None: the run's `model.language`.
        previous_text: str or None. What was said just before, in the same
            recording: with `data.previous_text_probability`, the target
            is prompted with it after `<|startofprev|>`.
        segments: a tuple of `whisper.transcription.transcript.Segment`, or None. The
            utterance's timed segments, seconds from the clip's start, in
            order and within 30 s: with `data.timestamps`, the target
            holds their timestamps.

    Exactly one of `audio`, `path` and `audio_bytes` is set.
    """

    id: str
    text: str
    audio: np.ndarray | None = None
    sampling_rate: int | None = None
    path: str | None = None
    audio_bytes: bytes | None = None
    language: str | None = None
    previous_text: str | None = None
    segments: tuple[Segment, ...] | None = None

    def __post_init__(self):
        given = [
            name for name in ("audio", "path", "audio_bytes") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"SpeechExample {self.id!r} needs exactly one of `audio` (with "
                f"`sampling_rate`), `path` and `audio_bytes`; got "
                f"{', '.join(given) or 'none of them'}."
            )
        if not isinstance(self.text, str):
            raise TypeError(
                f"SpeechExample {self.id!r}: `text` must be a str, got "
                f"{type(self.text).__name__} {self.text!r}."
            )
        for name in ("language", "previous_text"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise TypeError(
                    f"SpeechExample {self.id!r}: `{name}` must be a str or None, got "
                    f"{type(getattr(self, name)).__name__} {getattr(self, name)!r}."
                )
        if self.segments is not None:
            try:
                check_segments(self.segments)
            except ValueError as error:
                raise ValueError(f"SpeechExample {self.id!r}: {error}") from None
        if self.audio is not None:
            self._check_audio()
        elif self.sampling_rate is not None:
            raise ValueError(
                f"SpeechExample {self.id!r}: `sampling_rate` belongs to "
                f"in-memory `audio`; a file's rate is read from the file."
            )

    @property
    def audio_kind(self):
        """Which field holds the audio: "audio", "path" or "audio_bytes"."""
        if self.audio is not None:
            return "audio"
        return "path" if self.path is not None else "audio_bytes"

    def _check_audio(self):
        audio = self.audio
        if not isinstance(audio, np.ndarray) or audio.ndim not in (1, 2):
            raise ValueError(
                f"SpeechExample {self.id!r}: `audio` must be a NumPy array of "
                f"shape (samples,) or (samples, channels), got "
                f"{type(audio).__name__} of shape {np.shape(audio)}."
            )
        if audio.dtype.kind != "f":
            try:
                audio_io.pcm_scale(audio.dtype)
            except TypeError as error:
                raise TypeError(f"SpeechExample {self.id!r}: {error}") from None
        rate = self.sampling_rate
        is_int = isinstance(rate, numbers.Integral) and not isinstance(rate, bool)
        if not is_int or rate <= 0:
            raise ValueError(
                f"SpeechExample {self.id!r}: in-memory `audio` needs its "
                f"`sampling_rate` as a positive int of Hz, got {rate!r}."
            )


def check_segments(segments):
    """Raises ValueError unless `segments` are timed segments a target can hold.

    A tuple of `Segment`s with string texts, each `0 <= start <= end <= 30`
    seconds and none starting before the previous one ends.
    """
    if not isinstance(segments, tuple) or not segments:
        raise ValueError(
            f"`segments` must be a non-empty tuple of Segment, got {type(segments).__name__}."
        )
    previous_end = 0.0
    for index, segment in enumerate(segments):
        if not isinstance(segment, Segment) or not isinstance(segment.text, str):
            raise ValueError(f"segment {index} must be a Segment with a str text, got {segment!r}.")
        times_ok = all(isinstance(t, numbers.Real) for t in (segment.start, segment.end))
        if (
            not times_ok
            or not previous_end <= segment.start <= segment.end <= MAX_TIMESTAMP_SECONDS
        ):
            raise ValueError(
                f"segment {index} runs from {segment.start!r} to {segment.end!r} s; segments "
                f"need 0 <= start <= end <= {MAX_TIMESTAMP_SECONDS:g} s, in order, each "
                f"starting at or after the previous one's end ({previous_end:g} s)."
            )
        previous_end = segment.end
