"""Transcript files: SRT and WebVTT read back by independent parsers."""

import datetime
import io
import json

import pytest
import srt
import webvtt

from whisper.transcription.transcript import OUTPUT_FORMATS
from whisper.transcription.transcript import Segment
from whisper.transcription.transcript import Transcript


def transcript():
    return Transcript(
        segments=[
            Segment(0.0, 2.46, "Hello there."),
            Segment(2.46, 3661.5, "An hour, a minute, and more."),
            Segment(3662.0, 3662.0, ""),  # no text: no cue
            Segment(3663.02, 3665.999, "Ünïcode 字幕 — fine."),
        ],
        language="en",
        duration=3670.0,
    )


def test_srt_reads_back_with_the_srt_package():
    cues = list(srt.parse(transcript().to_srt()))
    assert [cue.index for cue in cues] == [1, 2, 3]
    assert [cue.content for cue in cues] == [
        "Hello there.",
        "An hour, a minute, and more.",
        "Ünïcode 字幕 — fine.",
    ]
    assert cues[1].start == datetime.timedelta(seconds=2.46)
    assert cues[1].end == datetime.timedelta(hours=1, minutes=1, seconds=1.5)
    assert cues[2].end == datetime.timedelta(seconds=3665.999)


def test_vtt_reads_back_with_webvtt_py():
    text = transcript().to_vtt()
    assert text.startswith("WEBVTT\n\n")
    captions = webvtt.from_buffer(io.StringIO(text)).captions
    assert [(c.start, c.end, c.text) for c in captions] == [
        ("00:00:00.000", "00:00:02.460", "Hello there."),
        ("00:00:02.460", "01:01:01.500", "An hour, a minute, and more."),
        ("01:01:03.020", "01:01:05.999", "Ünïcode 字幕 — fine."),
    ]


def test_json_and_txt_hold_every_segment():
    record = json.loads(transcript().to_json())
    assert record["text"] == "Hello there. An hour, a minute, and more. Ünïcode 字幕 — fine."
    assert record["language"] == "en" and record["duration"] == 3670.0
    assert [s["start"] for s in record["segments"]] == [0.0, 2.46, 3662.0, 3663.02]
    assert transcript().to_txt().splitlines()[1] == "An hour, a minute, and more."


def test_unknown_formats_are_refused_by_name():
    assert OUTPUT_FORMATS == ("txt", "json", "srt", "vtt")
    with pytest.raises(ValueError, match="'ass'.*txt, json, srt, vtt"):
        transcript().render("ass")
