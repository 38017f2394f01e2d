"""Speech unlike the committed clips, for parity tests on varied input.

`varied_clips(count)` speaks sentences of the synthetic corpus's grammar
in espeak-ng voices and at speeds the committed clips do not use, with 0 to
1.5 s of silence before and after, and, on every other clip, white noise at
-50 dBFS over the whole clip: what moved window starts, a trimmed silence
or a noise floor would change. The same clips on every run.
"""

import dataclasses

import numpy as np
import soundfile

from data_pipelines.espeak_speaker import Utterance
from data_pipelines.espeak_speaker import speak_in_fresh_process
from data_pipelines.sentence_grammar import SentenceGrammar
from whisper.audio_io import resample

SAMPLING_RATE = 16000
# Voices and variants the committed clips (tests/data/make_speech_clips.py)
# do not use; none adds random breath noise.
VOICES = (
    "en-us+m1",
    "en+m2",
    "en-gb-x-rp",
    "en+f4",
    "en-us+m7",
    "en-us-nyc",
    "en+m4",
    "en-us+f1",
    "en-029",
    "en-gb-scotland",
)
WORDS_PER_MINUTE = (110, 220)
MAX_SILENCE_SECONDS = 1.5
NOISE_DBFS = -50.0


@dataclasses.dataclass(frozen=True)
class VariedClip:
    waveform: np.ndarray
    text: str
    voice: str
    words_per_minute: int
    leading_silence: float
    trailing_silence: float
    noisy: bool


def varied_clips(count, seed=123):
    """`count` clips: a `VariedClip` each, 16 kHz float32."""
    random = np.random.default_rng(seed)
    grammar = SentenceGrammar()
    utterances = [
        Utterance(
            grammar.sentence(random),
            VOICES[index % len(VOICES)],
            int(random.integers(*WORDS_PER_MINUTE, endpoint=True)),
        )
        for index in range(count)
    ]
    rate, spoken = speak_in_fresh_process(utterances)
    clips = []
    for index, (utterance, samples) in enumerate(zip(utterances, spoken)):
        lead, trail = random.uniform(0.0, MAX_SILENCE_SECONDS, size=2)
        speech = resample(samples.astype("float32") / 32768.0, rate, SAMPLING_RATE)
        waveform = np.concatenate([_silence(lead), speech, _silence(trail)])
        noisy = index % 2 == 1
        if noisy:
            noise = random.standard_normal(len(waveform))
            waveform = waveform + 10 ** (NOISE_DBFS / 20) * noise
        clip = VariedClip(
            waveform.astype("float32"),
            utterance.text,
            utterance.voice,
            utterance.words_per_minute,
            float(lead),
            float(trail),
            noisy,
        )
        clips.append(clip)
    return clips


def write_clips(directory, clips):
    """Writes each clip as 32-bit float WAV (read back sample for sample);
    returns the paths."""
    paths = []
    for index, clip in enumerate(clips):
        path = str(directory / f"clip-{index:02d}.wav")
        soundfile.write(path, clip.waveform, SAMPLING_RATE, subtype="FLOAT")
        paths.append(path)
    return paths


def _silence(seconds):
    return np.zeros(round(seconds * SAMPLING_RATE), "float32")
