"""Long recordings with known boundaries: espeak-ng sentences and pauses.

    python -m benchmarks.long_recording OUTPUT.flac [--sentences 24]

writes the recording and, beside it, OUTPUT.json with each sentence's start,
end and text. For the long-form benchmark and the transcription tests.
`long_recording`
speaks sentences drawn from the synthetic corpus's grammar
(in a fresh espeak-ng process, so the same on every run), resamples them to
16 kHz and joins them with silences, recording where each sentence starts
and ends: the true segment boundaries.
"""

import argparse
import dataclasses
import json
import os

import numpy as np
import soundfile

from data_pipelines.espeak_speaker import Utterance
from data_pipelines.espeak_speaker import speak_in_fresh_process
from data_pipelines.sentence_grammar import SentenceGrammar
from whisper.audio_io import resample

SAMPLING_RATE = 16000


@dataclasses.dataclass
class Recording:
    """A waveform and, per sentence, (start s, end s, text)."""

    waveform: np.ndarray
    sentences: list

    @property
    def clips(self):
        """Each sentence's own samples."""
        return [
            self.waveform[round(start * SAMPLING_RATE) : round(end * SAMPLING_RATE)]
            for start, end, _ in self.sentences
        ]

    @property
    def text(self):
        return " ".join(text for _, _, text in self.sentences)


def long_recording(num_sentences=36, pause_seconds=1.0, seed=0, words_per_minute=160):
    """A recording of `num_sentences` sentences, `pause_seconds` apart
    (and after the last).

    Example:

    ```python
    from benchmarks.long_recording import long_recording

    recording = long_recording(num_sentences=2)
    [round(end - start, 1) for start, end, _ in recording.sentences]
    ```
    """
    random = np.random.default_rng(seed)
    grammar = SentenceGrammar()
    texts = [grammar.sentence(random) for _ in range(num_sentences)]
    rate, waveforms = speak_in_fresh_process(
        [Utterance(text, "en-us", words_per_minute) for text in texts]
    )
    pause = np.zeros(round(pause_seconds * SAMPLING_RATE), "float32")
    pieces, sentences, position = [], [], 0
    for text, samples in zip(texts, waveforms):
        speech = _trimmed(resample(samples.astype("float32") / 32768.0, rate, SAMPLING_RATE))
        pieces += [speech, pause]
        sentences.append((position / SAMPLING_RATE, (position + len(speech)) / SAMPLING_RATE, text))
        position += len(speech) + len(pause)
    return Recording(np.concatenate(pieces).astype("float32"), sentences)


def _trimmed(speech, threshold=1e-3):
    """`speech` without the near-silence espeak-ng leaves around it, so that
    the recorded boundaries are where speech is."""
    loud = np.flatnonzero(np.abs(speech) > threshold)
    return speech[loud[0] : loud[-1] + 1] if len(loud) else speech


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="the audio file to write (.flac, .wav, .ogg)")
    parser.add_argument("--sentences", type=int, default=36)
    parser.add_argument("--pause-seconds", type=float, default=1.0)
    args = parser.parse_args()
    recording = long_recording(args.sentences, args.pause_seconds)
    soundfile.write(args.output, recording.waveform, SAMPLING_RATE)
    sentences = [{"start": s, "end": e, "text": t} for s, e, t in recording.sentences]
    with open(os.path.splitext(args.output)[0] + ".json", "w", encoding="utf-8") as file:
        json.dump({"text": recording.text, "sentences": sentences}, file, indent=2)
    seconds = len(recording.waveform) / SAMPLING_RATE
    print(f"{args.output}: {seconds:.1f} s, {args.sentences} sentences")


if __name__ == "__main__":
    main()
