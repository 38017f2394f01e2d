"""SpeechActivity: where a waveform is louder than a silence floor.

Whisper's timestamps come from the text decoder, which tends to end a
segment where the next one starts (a pause counts as the end of the words
before it) and, over long silence, may invent text. An energy floor is a
cheap, exact check for the silence of digital audio and of quiet rooms:
segments are trimmed to their audible part, and a segment with nothing
audible in it is dropped. It is applied to decoded segments only, never to
what the model hears: moving windows' starts past quiet audio changed the
tokens of 16 of 40 short clips. A floor of 1e-3 RMS (-60 dBFS) lies below
any speech; audio whose noise floor is above it is left as the decoder
timed it. The long-form transcriber applies it when given a
`silence_threshold` (off by default).

Example:

```python
import numpy as np
from whisper.transcription.speech_activity import SpeechActivity

waveform = np.zeros(32000, "float32")
waveform[16000:24000] = 0.1  # half a second of sound, 1 s in
activity = SpeechActivity(waveform, sampling_rate=16000)
activity.trim(0.0, 2.0)  # (0.9, 1.6): the sound, with a 0.1 s margin
```
"""

import numpy as np

FRAME_SECONDS = 0.02
MARGIN_SECONDS = 0.1
EDGE_SECONDS = 0.25


class SpeechActivity:
    """Frames of 20 ms whose RMS exceeds `threshold`, for one waveform.

    Args:
        waveform: float (samples,), full scale 1.0.
        sampling_rate: its rate in Hz.
        threshold: the RMS under which a frame is silence.
    """

    def __init__(self, waveform, sampling_rate, threshold=1e-3):
        self.sampling_rate = sampling_rate
        self.frame_samples = round(sampling_rate * FRAME_SECONDS)
        frames = len(waveform) // self.frame_samples
        if len(waveform) % self.frame_samples:
            frames += 1
        padded = np.zeros(frames * self.frame_samples, "float32")
        padded[: len(waveform)] = waveform
        power = np.mean(np.square(padded.reshape(frames, self.frame_samples)), axis=1)
        self.audible = np.sqrt(power) > threshold
        self.duration = len(waveform) / sampling_rate

    def trimmed(self, segments):
        """`segments` (with `start` and `end` in seconds) trimmed to their
        sound, in place; those over silence alone are left out."""
        kept = []
        for segment in segments:
            trimmed = self.trim(segment.start, segment.end)
            if trimmed is not None:
                segment.start, segment.end = trimmed
                kept.append(segment)
        return kept

    def trim(self, start, end):
        """(start, end) in seconds narrowed to the sound inside it, with a
        margin; None if it holds only silence.

        A burst of sound within `EDGE_SECONDS` of either end, set apart by
        as much silence, belongs to the neighbouring segment (the decoder
        often ends a segment where the next speech starts) and is left out.
        """
        first = int(start / FRAME_SECONDS)
        last = int(np.ceil(end / FRAME_SECONDS))
        runs = _runs(self.audible[first:last])
        if not runs:
            return None
        edge = round(EDGE_SECONDS / FRAME_SECONDS)
        span = last - first
        if len(runs) > 1 and runs[-1][0] >= span - edge and runs[-1][0] - runs[-2][1] >= edge:
            runs = runs[:-1]
        if len(runs) > 1 and runs[0][1] <= edge and runs[1][0] - runs[0][1] >= edge:
            runs = runs[1:]
        sound_start = (first + runs[0][0]) * FRAME_SECONDS - MARGIN_SECONDS
        sound_end = (first + runs[-1][1]) * FRAME_SECONDS + MARGIN_SECONDS
        trimmed_start = max(start, sound_start)
        trimmed_end = min(end, sound_end, self.duration)
        return round(float(trimmed_start), 3), round(float(trimmed_end), 3)


def _runs(audible):
    """[(first frame, frame after the last)] of each stretch of sound."""
    edges = np.diff(np.concatenate([[0], audible.astype("int8"), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))
