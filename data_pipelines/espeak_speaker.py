"""`EspeakSpeaker`: English text to speech with espeak-ng, through ctypes.

The library and its voice data come from the `espeakng-loader` package, so
no system espeak-ng is needed. Speech comes out as int16 samples at
espeak-ng's own rate, 22,050 Hz.

espeak-ng keeps synthesis state in C globals that no API call resets (the
phase of its pitch "flutter", for one): the same sentence spoken twice in
one process can differ by a few samples, depending on everything spoken
before. `speak_in_fresh_process` therefore speaks a list of utterances in a
new Python process, so the samples depend on that list alone, on every run
and every machine with the same espeakng-loader. Voices whose variant adds
breath noise (`+f2`, `+f3`, `+f5`) draw it from the C library's `rand()`,
which a fresh process also starts from the same state.

Example:

```python
from data_pipelines.espeak_speaker import Utterance, speak_in_fresh_process

rate, waveforms = speak_in_fresh_process([
    Utterance("Good morning.", voice="en-us", words_per_minute=160),
    Utterance("See you tomorrow.", voice="en+f4", pitch=60),
])
rate, waveforms[0].dtype  # (22050, dtype('int16'))
```
"""

import ctypes
import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import espeakng_loader
import numpy as np

# espeak-ng's C API (speak_lib.h).
AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
CHARS_UTF8 = 1
PARAMETER_RATE = 1
PARAMETER_PITCH = 3
DEFAULT_WORDS_PER_MINUTE = 175
DEFAULT_PITCH = 50
SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
# Exit status of the speaking process for a request it refuses (an unknown
# voice), as opposed to a crash.
BAD_REQUEST_STATUS = 2


@dataclasses.dataclass(frozen=True)
class Utterance:
    """A sentence and how to speak it.

    Attributes:
        text: str. What to say.
        voice: str. An espeak-ng voice, e.g. "en-us"; "+variant" changes
            pitch and timbre, e.g. "en-us+m3" or "en+f4".
        words_per_minute: int. Speaking rate, 80 to 450.
        pitch: int. Base pitch, 0 to 100 (50 is the voice's own).
    """

    text: str
    voice: str = "en-us"
    words_per_minute: int = DEFAULT_WORDS_PER_MINUTE
    pitch: int = DEFAULT_PITCH


class EspeakSpeaker:
    """espeak-ng in synchronous mode, in this process: text in, int16 out.

    espeak-ng is one per process; speakers take turns through its single
    synthesis callback, which each `speak` claims for itself.
    """

    def __init__(self):
        self.library = ctypes.CDLL(espeakng_loader.get_library_path())
        self.library.espeak_Synth.argtypes = (
            ctypes.c_char_p,  # text
            ctypes.c_size_t,  # its size in bytes
            ctypes.c_uint,  # position to start from
            ctypes.c_int,  # what the position counts
            ctypes.c_uint,  # end position, 0 for the end
            ctypes.c_uint,  # flags
            ctypes.POINTER(ctypes.c_uint),  # unique identifier out
            ctypes.c_void_p,  # user data
        )
        data_path = espeakng_loader.get_data_path().encode()
        self.sampling_rate = self.library.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0
        )
        if self.sampling_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed with data at {data_path}.")
        self._chunks = []
        # Kept on self: ctypes must not free the callback while espeak holds it.
        self._callback = SYNTH_CALLBACK(self._collect)

    def _collect(self, samples, num_samples, events):
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, (num_samples,)).copy())
        return 0  # Continue synthesis.

    def speak(self, text, voice, words_per_minute, pitch=DEFAULT_PITCH):
        """`text` as int16 samples at `self.sampling_rate`."""
        if self.library.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}.")
        # Every parameter is set on every call: espeak-ng keeps them across
        # calls, and a voice change does not reset them.
        self.library.espeak_SetParameter(PARAMETER_RATE, words_per_minute, 0)
        self.library.espeak_SetParameter(PARAMETER_PITCH, pitch, 0)
        self.library.espeak_SetSynthCallback(self._callback)
        self._chunks = []
        encoded = text.encode("utf-8")
        status = self.library.espeak_Synth(
            encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None
        )
        if status != 0 or self.library.espeak_Synchronize() != 0:
            raise RuntimeError(f"espeak-ng failed on {text!r} (status {status}).")
        return np.concatenate(self._chunks)


def speak_in_fresh_process(utterances):
    """Speaks `utterances` in a new process, reproducibly.

    Args:
        utterances: a sequence of `Utterance`.

    Returns:
        `(sampling_rate, waveforms)`: espeak-ng's rate in Hz and one int16
        array per utterance.

    Raises:
        ValueError: an utterance names a voice espeak-ng does not have.
        RuntimeError: the speaking process failed.
    """
    requests = [dataclasses.asdict(utterance) for utterance in utterances]
    with tempfile.TemporaryDirectory(prefix="espeak-") as directory:
        output = os.path.join(directory, "speech.npz")
        # This file runs as a script: it imports only NumPy and the
        # espeak-ng loader, not the package (or TensorFlow) around it.
        completed = subprocess.run(
            [sys.executable, os.path.abspath(__file__), output],
            input=json.dumps(requests),
            capture_output=True,
            text=True,
        )
        if completed.returncode == BAD_REQUEST_STATUS:
            raise ValueError(completed.stderr.strip())
        if completed.returncode != 0:
            raise RuntimeError(
                f"The espeak-ng process failed (exit status "
                f"{completed.returncode}):\n{completed.stderr}"
            )
        with np.load(output) as speech:
            samples, lengths = speech["samples"], speech["lengths"]
            sampling_rate = int(speech["sampling_rate"])
    waveforms = np.split(samples, np.cumsum(lengths)[:-1]) if len(lengths) else []
    return sampling_rate, waveforms


def _speak_requests(output):
    """The speaking process: JSON utterances on stdin, an .npz to `output`."""
    utterances = [Utterance(**request) for request in json.load(sys.stdin)]
    speaker = EspeakSpeaker()
    try:
        waveforms = [
            speaker.speak(u.text, u.voice, u.words_per_minute, u.pitch) for u in utterances
        ]
    except ValueError as error:
        print(error, file=sys.stderr)
        sys.exit(BAD_REQUEST_STATUS)
    np.savez(
        output,
        samples=np.concatenate(waveforms) if waveforms else np.zeros(0, np.int16),
        lengths=np.array([len(w) for w in waveforms], np.int64),
        sampling_rate=speaker.sampling_rate,
    )


if __name__ == "__main__":
    _speak_requests(sys.argv[1])
