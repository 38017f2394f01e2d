"""Synthesizes the short English speech clips under tests/data/speech/.

The clips give the transcription tests real words to recognize without
downloading a corpus. They are spoken by espeak-ng through
`data_pipelines.espeak_speaker` (ctypes over the `espeakng-loader` package's
library and voice data, so no system espeak-ng is needed), and written in the
formats the transcription CLI must read: 16 kHz mono WAV mostly, one FLAC, one
Ogg Vorbis, one stereo file and two at other sampling rates (22,050 Hz,
espeak-ng's own, and 44,100 Hz), which readers must downmix and resample.
`transcripts.jsonl` lists each file with the sentence spoken.

Run from anywhere: `python tests/data/make_speech_clips.py`. The output is the
same on every run: espeak-ng speaks in a fresh process (it keeps state
across sentences), the voices used add no random breath noise, and the
serial number that libsndfile draws at random for the Ogg stream is fixed.
"""

import json
import os
import struct
from dataclasses import dataclass

import numpy as np
import soundfile

from data_pipelines.espeak_speaker import Utterance
from data_pipelines.espeak_speaker import speak_in_fresh_process
from whisper import audio_io

OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "speech")
TRANSCRIPTS_FILE = "transcripts.jsonl"
SAMPLING_RATE = 16000


@dataclass(frozen=True)
class Clip:
    """One sentence, how it is spoken and how it is stored."""

    file: str
    text: str
    # espeak-ng voice; "+variant" changes pitch and timbre. Variants with
    # "breath" (f2, f3, f5) add random noise, so they are not used.
    voice: str
    words_per_minute: int
    sampling_rate: int = SAMPLING_RATE
    channels: int = 1
    format: str = "WAV"
    subtype: str = "PCM_16"


CLIPS = (
    Clip("quick_brown_fox.wav", "The quick brown fox jumps over the lazy dog.", "en-us", 160),
    Clip("call_me_back.wav", "Please call me back when you get home tonight.", "en-us+m3", 150),
    Clip(
        "umbrella.flac",
        "It is going to rain tomorrow, so bring an umbrella.",
        "en+f1",
        155,
        format="FLAC",
    ),
    Clip(
        "apples_and_bread.ogg",
        "She bought some apples and a loaf of bread.",
        "en-us+f4",
        150,
        format="OGG",
        subtype="VORBIS",
    ),
    Clip(
        "meeting_stereo.wav",
        "The meeting will start right after lunch.",
        "en-us+m1",
        165,
        channels=2,
    ),
    Clip(
        "river_22050.wav",
        "My sister lives in a small house near the river.",
        "en+m2",
        150,
        sampling_rate=22050,
    ),
    Clip(
        "report_44100.wav",
        "We need to finish this report before the weekend.",
        "en-us",
        170,
        sampling_rate=44100,
    ),
    Clip("kitchen_lights.wav", "Can you turn off the lights in the kitchen?", "en-us+m4", 155),
)


def resample(samples, source_rate, target_rate):
    """int16 samples at `target_rate`, by polyphase filtering."""
    resampled = audio_io.resample(samples.astype("float64"), source_rate, target_rate)
    return np.clip(np.round(resampled), -32768, 32767).astype("int16")


def to_channels(samples, channels):
    """A (samples, channels) array; the second channel is quieter and a
    millisecond late, so a reader that drops a channel or sums them
    without care still hears speech but not the exact mono signal."""
    if channels == 1:
        return samples
    delay = 16
    right = np.concatenate([np.zeros(delay, "int16"), samples[:-delay] // 2])
    return np.stack([samples, right], axis=1)


def write_clip(clip, samples, directory):
    path = os.path.join(directory, clip.file)
    soundfile.write(path, samples, clip.sampling_rate, format=clip.format, subtype=clip.subtype)
    if clip.format == "OGG":
        fix_ogg_serial_number(path)


# Ogg pages (RFC 3533): "OggS", version, flags, granule position (8 bytes),
# serial number (4), page sequence (4), CRC (4), segment count, segment table.
OGG_SERIAL_OFFSET = 14
OGG_CRC_OFFSET = 22
OGG_SERIAL_NUMBER = 20240601


def fix_ogg_serial_number(path):
    """Rewrites the random stream serial number of every page, with its CRC."""
    with open(path, "rb") as file:
        data = bytearray(file.read())
    start = 0
    while start < len(data):
        if data[start : start + 4] != b"OggS":
            raise ValueError(f"'{path}': no Ogg page at byte {start}.")
        num_segments = data[start + 26]
        body_size = sum(data[start + 27 : start + 27 + num_segments])
        end = start + 27 + num_segments + body_size
        struct.pack_into("<I", data, start + OGG_SERIAL_OFFSET, OGG_SERIAL_NUMBER)
        struct.pack_into("<I", data, start + OGG_CRC_OFFSET, 0)
        struct.pack_into("<I", data, start + OGG_CRC_OFFSET, ogg_crc(data[start:end]))
        start = end
    with open(path, "wb") as file:
        file.write(data)


def ogg_crc(page):
    """Ogg's CRC-32: polynomial 0x04C11DB7, initial 0, not reflected."""
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def main(output_dir=OUTPUT_DIR):
    os.makedirs(output_dir, exist_ok=True)
    espeak_rate, spoken = speak_in_fresh_process(
        [Utterance(clip.text, clip.voice, clip.words_per_minute) for clip in CLIPS]
    )
    transcripts = []
    for clip, samples in zip(CLIPS, spoken):
        samples = resample(samples, espeak_rate, clip.sampling_rate)
        write_clip(clip, to_channels(samples, clip.channels), output_dir)
        transcripts.append({"file": clip.file, "text": clip.text})
    with open(os.path.join(output_dir, TRANSCRIPTS_FILE), "w", encoding="utf-8") as file:
        file.writelines(json.dumps(entry) + "\n" for entry in transcripts)
    print(f"Wrote {len(CLIPS)} clips and {TRANSCRIPTS_FILE} to {output_dir}.")


if __name__ == "__main__":
    main()
