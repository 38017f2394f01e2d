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

tone = np.sin(np.arange(16000) / 10).astype("float32")
in_memory = SpeechExample(id="tone", text="a tone", audio=tone, sampling_rate=16000)
on_disk = SpeechExample(id="clip-1", text="hello there", path="/data/clip-1.flac")
on_disk.audio_kind  # "path"
```
"""

import dataclasses
import numbers

import numpy as np

from whisper import audio_io


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

    Exactly one of `audio`, `path` and `audio_bytes` is set.
    """

    id: str
    text: str
    audio: np.ndarray | None = None
    sampling_rate: int | None = None
    path: str | None = None
    audio_bytes: bytes | None = None

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
