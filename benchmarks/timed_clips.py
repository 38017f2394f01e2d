"""Clips of consecutive sentences with their segments, listed in a manifest.

    python -m benchmarks.timed_clips OUTPUT_DIR [--recordings 12] [--clips-per-recording 4]

writes FLAC clips and OUTPUT_DIR/manifest.jsonl, one row a clip: `audio`,
`text`, `segments` (each sentence's start, end and text, seconds from the
clip's start) and `recording`, rows of a recording in the order spoken, so
each clip's previous text is the clip before it. Each recording is a
`long_recording` of espeak-ng sentences, cut between sentences into clips
of `sentences_per_clip`: the data timestamp and previous-text fine-tuning
is measured and tested on.
"""

import argparse
import json
import os

import soundfile

from benchmarks.long_recording import SAMPLING_RATE
from benchmarks.long_recording import long_recording

PAUSE_SECONDS = 1.0


def write_timed_clips(directory, num_recordings, clips_per_recording, sentences_per_clip=2, seed=0):
    """Writes the clips and manifest.jsonl under `directory`; returns the manifest's path.

    Example:

    ```python
    from benchmarks.timed_clips import write_timed_clips

    manifest = write_timed_clips("/tmp/timed", num_recordings=1, clips_per_recording=2)
    ```
    """
    os.makedirs(directory, exist_ok=True)
    rows = []
    for index in range(num_recordings):
        recording = long_recording(
            clips_per_recording * sentences_per_clip, PAUSE_SECONDS, seed=seed + index
        )
        for clip, (start, segments) in enumerate(_clips(recording, sentences_per_clip)):
            name = f"recording{index:03d}-{clip:02d}.flac"
            end = start + segments[-1]["end"] + PAUSE_SECONDS / 2
            samples = recording.waveform[round(start * SAMPLING_RATE) : round(end * SAMPLING_RATE)]
            soundfile.write(os.path.join(directory, name), samples, SAMPLING_RATE)
            text = " ".join(segment["text"] for segment in segments)
            rows.append(
                {"audio": name, "text": text, "segments": segments, "recording": f"r{index}"}
            )
    path = os.path.join(directory, "manifest.jsonl")
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def _clips(recording, sentences_per_clip):
    """(clip start s, segments relative to it) per group of sentences; each
    clip starts half a pause before its first sentence."""
    sentences = recording.sentences
    for first in range(0, len(sentences), sentences_per_clip):
        group = sentences[first : first + sentences_per_clip]
        start = max(group[0][0] - PAUSE_SECONDS / 2, 0.0)
        yield (
            start,
            [
                {"start": round(s - start, 3), "end": round(e - start, 3), "text": text}
                for s, e, text in group
            ],
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="the directory to write")
    parser.add_argument("--recordings", type=int, default=12)
    parser.add_argument("--clips-per-recording", type=int, default=4)
    parser.add_argument("--sentences-per-clip", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = write_timed_clips(
        args.output, args.recordings, args.clips_per_recording, args.sentences_per_clip, args.seed
    )
    print(f"{path}: {args.recordings * args.clips_per_recording} clips")


if __name__ == "__main__":
    main()
