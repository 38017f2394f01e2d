"""Audio files as the float32 mono waveforms Whisper expects.

`load_audio` reads any format libsndfile reads (WAV, FLAC, OGG Vorbis/Opus,
MP3, AIFF, ...) through `soundfile`, averages the channels into one and
resamples to the requested rate with a polyphase anti-aliasing filter.
`decode_audio` does the same for the bytes of a file already in memory, as
`tf.io.read_file` or `tf.io.gfile` give them for cloud storage paths, and
`prepare_waveform` for samples already decoded. Audio that cannot be used
raises `AudioLoadError`, whose message names the file and the reason and
whose `kind` says which reason it is. `pcm_to_float` is the one reading of
integer PCM that every part of the project shares.

Example:

```python
import numpy as np
import soundfile
from whisper.audio_io import load_audio

time = np.arange(44100) / 44100
stereo = np.stack([np.sin(2 * np.pi * 440 * time)] * 2, axis=1)
soundfile.write("tone.flac", stereo, 44100)

waveform = load_audio("tone.flac")  # float32, shape (16000,), at 16 kHz
```
"""

import io
import math
import os

import numpy as np
import soundfile

WHISPER_SAMPLING_RATE = 16000
# Integer PCM sample types and their full scale, as soundfile and OpenAI read
# them (int16 by 1/32768). Unsigned samples (8-bit WAV) are centred first.
# 64-bit integers are refused: such arrays usually hold int16 values, which
# their full scale would turn into silence.
PCM_BITS = {"int8": 8, "int16": 16, "int32": 32, "uint8": 8, "uint16": 16, "uint32": 32}

# What `AudioLoadError.kind` says, one stable name per reason.
MISSING = "missing"  # No such file.
NOT_A_FILE = "not_a_file"  # A directory, a device or a pipe, not a regular file.
UNREADABLE = "unreadable"  # Bytes libsndfile cannot decode: not audio, or a damaged header.
EMPTY_FILE = "empty_file"  # Zero bytes: usually a failed download or copy.
EMPTY = "empty"  # It decodes, but holds no samples (a header and nothing after it).
NON_FINITE = "non_finite"  # NaN or infinite samples.
KINDS = (MISSING, NOT_A_FILE, UNREADABLE, EMPTY_FILE, EMPTY, NON_FINITE)


class AudioLoadError(OSError):
    """Audio that is missing, not a file, unreadable, empty or not finite.

    Attributes:
        path: the file, as given (or a name for in-memory audio).
        reason: what is wrong with it, in words.
        kind: which reason, one of `KINDS`: `MISSING`, `NOT_A_FILE`,
            `UNREADABLE`, `EMPTY_FILE`, `EMPTY` or `NON_FINITE`.
    """

    def __init__(self, path, reason, kind=UNREADABLE):
        super().__init__(f"Cannot load audio '{path}': {reason}.")
        self.path = path
        self.reason = reason
        self.kind = kind


def load_audio(path, sampling_rate=WHISPER_SAMPLING_RATE):
    """Reads an audio file as a float32 mono waveform at `sampling_rate`.

    Args:
        path: a file path (str, bytes or `os.PathLike`); bytes paths are
            accepted because `tf.numpy_function` passes strings as bytes.
        sampling_rate: int. Rate of the returned waveform, in Hz.

    Returns:
        A float32 array of shape `(samples,)`. Integer PCM is scaled to
        [-1, 1); float files keep their values.

    Raises:
        AudioLoadError: the file is missing (`MISSING`), is a directory or
            another non-regular file (`NOT_A_FILE`), has zero bytes
            (`EMPTY_FILE`), is not audio libsndfile can read
            (`UNREADABLE`), holds no samples (`EMPTY`), or holds NaN or
            infinite samples (`NON_FINITE`).
    """
    path = check_audio_file(path)
    return _decode(path, path, sampling_rate)


def check_audio_file(path):
    """Returns `path` as str if it is a non-empty regular file, without reading it.

    Raises:
        AudioLoadError: as `load_audio` for a missing (`MISSING`), non-file
            (`NOT_A_FILE`) or empty (`EMPTY_FILE`) path.
    """
    path = os.fsdecode(path)
    if not os.path.exists(path):
        raise AudioLoadError(path, "no such file", MISSING)
    if os.path.isdir(path):
        raise AudioLoadError(path, "it is a directory", NOT_A_FILE)
    if not os.path.isfile(path):
        # A pipe or a device: reading one could block or never end.
        raise AudioLoadError(path, "it is not a regular file", NOT_A_FILE)
    if os.path.getsize(path) == 0:
        raise AudioLoadError(path, "the file is empty", EMPTY_FILE)
    return path


def decode_audio(data, sampling_rate=WHISPER_SAMPLING_RATE, name="<bytes>"):
    """Decodes the bytes of an audio file, as `load_audio` reads a file.

    Args:
        data: the encoded file's bytes.
        sampling_rate: int. Rate of the returned waveform, in Hz.
        name: what error messages call the audio, e.g. its URL.

    Raises:
        AudioLoadError: `data` is empty (`EMPTY_FILE`), or as `load_audio`.
    """
    if len(data) == 0:
        raise AudioLoadError(name, "there are no bytes to decode", EMPTY_FILE)
    return _decode(io.BytesIO(data), name, sampling_rate)


def prepare_waveform(samples, from_rate, sampling_rate=WHISPER_SAMPLING_RATE, name="<array>"):
    """Decoded samples as the float32 mono waveform at `sampling_rate` Whisper takes.

    Args:
        samples: `(samples,)` or `(samples, channels)` floats, or integer PCM
            (scaled by `pcm_to_float`).
        from_rate: int. The rate `samples` were recorded at, in Hz.
        sampling_rate: int. Rate of the returned waveform, in Hz.
        name: what error messages call the audio.

    Raises:
        AudioLoadError: no samples (`EMPTY`), or NaN or infinite ones
            (`NON_FINITE`).
    """
    samples = pcm_to_float(samples)
    if samples.size == 0:
        raise AudioLoadError(name, "it holds no audio samples", EMPTY)
    # One NaN would turn the whole example's log-mel features into NaN (they
    # are clamped relative to the example's maximum); refuse it here, where
    # the audio can still be named.
    if not np.isfinite(samples).all():
        raise AudioLoadError(name, "it holds NaN or infinite samples", NON_FINITE)
    waveform = resample(to_mono(samples), from_rate, sampling_rate)
    return waveform.astype(np.float32, copy=False)


def pcm_scale(dtype):
    """(midpoint, full scale) of an integer PCM sample type.

    A sample `x` stands for `(x - midpoint) / full_scale`, in [-1, 1).

    Raises:
        TypeError: `dtype` is not an 8-, 16- or 32-bit integer type.
    """
    dtype = np.dtype(dtype)
    if dtype.name not in PCM_BITS:
        raise TypeError(
            f"Audio samples must be floats or integer PCM ({', '.join(PCM_BITS)}); "
            f"got dtype {dtype.name}."
        )
    full_scale = 2.0 ** (PCM_BITS[dtype.name] - 1)
    return (full_scale if dtype.kind == "u" else 0.0), full_scale


def pcm_to_float(samples):
    """Samples as float32: floats as they are, integer PCM by `pcm_scale`."""
    samples = np.asarray(samples)
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    midpoint, full_scale = pcm_scale(samples.dtype)
    return ((samples.astype(np.float64) - midpoint) / full_scale).astype(np.float32)


def to_mono(audio):
    """Averages the channels of `(samples, channels)` audio into `(samples,)`.

    One-dimensional audio is returned as it is. Averaging, rather than
    summing, keeps a signal present in every channel at its level and never
    clips.
    """
    audio = np.asarray(audio)
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise ValueError(
            f"Audio must have shape (samples,) or (samples, channels), got shape {audio.shape}."
        )
    return audio.mean(axis=1, dtype=audio.dtype)


def resample(audio, from_rate, to_rate):
    """Resamples mono audio from `from_rate` to `to_rate` Hz.

    Uses a polyphase filter (`scipy.signal.resample_poly`) at the reduced
    ratio `to_rate / from_rate`; its low-pass filter removes what lies above
    the new Nyquist frequency instead of folding it back as aliases. The
    result has `ceil(samples * to_rate / from_rate)` samples.
    """
    from_rate, to_rate = _rate(from_rate), _rate(to_rate)
    if from_rate == to_rate:
        return audio
    # Imported here: scipy.signal takes most of a second to import, and
    # every process that reads audio (each `python -m train`) pays it.
    import scipy.signal

    common = math.gcd(from_rate, to_rate)
    return scipy.signal.resample_poly(audio, up=to_rate // common, down=from_rate // common)


def _decode(source, name, sampling_rate):
    sampling_rate = _rate(sampling_rate)
    try:
        audio, file_rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (RuntimeError, TypeError) as error:
        # libsndfile's own words ("Format not recognised"), without the
        # "Error opening <path>" prefix our message already gives.
        detail = (getattr(error, "error_string", None) or str(error)).rstrip(".")
        raise AudioLoadError(name, f"not an audio format libsndfile can read ({detail})") from error
    return prepare_waveform(audio, file_rate, sampling_rate, name)


def _rate(rate):
    """A sampling rate as a positive int; rejects fractional rates."""
    if isinstance(rate, bool) or not float(rate).is_integer() or rate <= 0:
        raise ValueError(f"A sampling rate must be a positive whole number of Hz, got {rate!r}.")
    return int(rate)
