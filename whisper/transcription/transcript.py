"""Transcript and Segment: timed text, and the files it is written as.

A `Transcript` is what transcribing one recording gives: segments with start
and end times in seconds, the language, and the text. It writes itself as
plain text, JSON, SubRip (SRT) and WebVTT.

Example:

```python
from whisper.transcription.transcript import Segment, Transcript

transcript = Transcript(
    segments=[Segment(0.0, 2.5, "Hello there."), Segment(3.0, 61.25, "General Kenobi.")],
    language="en",
    duration=62.0,
)
print(transcript.to_srt())
```
"""

import dataclasses
import json

OUTPUT_FORMATS = ("txt", "json", "srt", "vtt")


@dataclasses.dataclass
class Segment:
    """A stretch of speech and its text.

    Attributes:
        start: seconds from the start of the recording.
        end: seconds from the start of the recording.
        text: the words, with Whisper's leading space removed.
        avg_log_prob: log-probability per token of the window it came from.
        no_speech_prob: that window's no-speech probability.
        temperature: the temperature its window was decoded at.
        compression_ratio: gzip ratio of its window's text (high: repeats).
        tokens: its token ids, timestamps included, as OpenAI's segments
            hold them.
    """

    start: float
    end: float
    text: str
    avg_log_prob: float = 0.0
    no_speech_prob: float = 0.0
    temperature: float = 0.0
    compression_ratio: float = 1.0
    tokens: list = dataclasses.field(default_factory=list)

    def to_json(self):
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "avg_log_prob": round(float(self.avg_log_prob), 4),
            "no_speech_prob": round(float(self.no_speech_prob), 4),
            "temperature": self.temperature,
            "compression_ratio": round(float(self.compression_ratio), 3),
            "tokens": [int(i) for i in self.tokens],
        }


@dataclasses.dataclass
class Transcript:
    """One recording's segments, language and duration (seconds)."""

    segments: list
    language: str | None = None
    duration: float = 0.0
    language_probability: float | None = None

    @property
    def text(self):
        """The segments' texts joined by spaces, whitespace collapsed."""
        return " ".join(" ".join(segment.text for segment in self.segments).split())

    def to_txt(self):
        """One line per segment."""
        return "".join(f"{segment.text}\n" for segment in self.segments)

    def to_json(self):
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"

    def as_dict(self):
        """The JSON file's fields: text, language, duration, segments."""
        record = {
            "text": self.text,
            "language": self.language,
            "duration": round(self.duration, 3),
            "segments": [segment.to_json() for segment in self.segments],
        }
        if self.language_probability is not None:
            record["language_probability"] = round(float(self.language_probability), 4)
        return record

    def to_srt(self):
        """SubRip: numbered cues, `HH:MM:SS,mmm --> HH:MM:SS,mmm`."""
        cues = [
            f"{number}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n"
            for number, s in enumerate(self._cues(), start=1)
        ]
        return "\n".join(cues)

    def to_vtt(self):
        """WebVTT: a `WEBVTT` header, cues `HH:MM:SS.mmm --> HH:MM:SS.mmm`."""
        cues = [
            f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n" for s in self._cues()
        ]
        return "\n".join(["WEBVTT\n", *cues])

    def render(self, output_format):
        """The file's text in one of `OUTPUT_FORMATS`."""
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"Unknown output format {output_format!r}; use one of {', '.join(OUTPUT_FORMATS)}."
            )
        return getattr(self, f"to_{output_format}")()

    def _cues(self):
        # A cue needs text, and players reject an end before its start.
        return [
            dataclasses.replace(segment, end=max(segment.end, segment.start))
            for segment in self.segments
            if segment.text.strip()
        ]


def _clock(seconds, decimal_mark):
    milliseconds = max(0, round(seconds * 1000))
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_mark}{milliseconds:03d}"
