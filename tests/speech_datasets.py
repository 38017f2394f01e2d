"""The committed speech clips as each data source kind stores them.

Manifests (JSONL, CSV, TSV), a Hugging Face dataset saved with
`save_to_disk`, and a TFDS dataset prepared by a local builder, for the
source tests and for the command-line runs of every data group.
"""

import csv
import json
import os

import datasets
import numpy as np
import tensorflow_datasets as tfds

from whisper import audio_io

MANIFEST_DELIMITERS = {"csv": ",", "tsv": "\t"}


def write_manifest(path, clips, manifest_format):
    """Writes [(audio path, text)] as a JSONL, CSV or TSV manifest; returns `path`."""
    with open(path, "w", encoding="utf-8", newline="") as file:
        if manifest_format == "jsonl":
            for audio, text in clips:
                file.write(json.dumps({"audio": audio, "text": text}) + "\n")
            return str(path)
        writer = csv.writer(file, delimiter=MANIFEST_DELIMITERS[manifest_format])
        writer.writerow(["audio", "text"])
        writer.writerows(clips)
    return str(path)


def clip_table(clips):
    paths = [path for path, _ in clips]
    return {
        "audio": paths,
        "text": [text for _, text in clips],
        "id": [os.path.splitext(os.path.basename(path))[0] for path in paths],
    }


def save_hf_dataset(directory, clips):
    """The clips as a `save_to_disk` Dataset with an Audio column; returns `directory`."""
    table = datasets.Dataset.from_dict(clip_table(clips))
    table.cast_column("audio", datasets.Audio()).save_to_disk(str(directory))
    return str(directory)


def prepare_tfds_dataset(data_dir, speech_dir):
    """Prepares `tiny_speech_clips` (train: 6 clips, test: 2) in `data_dir`."""
    builder = TinySpeechClips(data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(speech_dir))
    )
    return str(data_dir)


class TinySpeechClips(tfds.core.GeneratorBasedBuilder):
    """The speech clips as LibriSpeech lays them out: int16 "speech" at
    16 kHz, "text" and "id". Read from the manual directory, which holds
    the clips and their transcripts.jsonl."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "The directory of tests/data/speech."

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "speech": tfds.features.Audio(sample_rate=16000, dtype=np.int16),
                    "text": tfds.features.Text(),
                    "id": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        with open(os.path.join(dl_manager.manual_dir, "transcripts.jsonl")) as file:
            records = [json.loads(line) for line in file]
        return {
            "train": self._generate_examples(dl_manager.manual_dir, records[:6]),
            "test": self._generate_examples(dl_manager.manual_dir, records[6:]),
        }

    def _generate_examples(self, directory, records):
        for record in records:
            waveform = audio_io.load_audio(os.path.join(directory, record["file"]))
            key = os.path.splitext(record["file"])[0]
            yield (
                key,
                {
                    "speech": pcm16(waveform),
                    "text": record["text"],
                    "id": key,
                },
            )


def pcm16(waveform):
    return np.clip(np.round(waveform * 32768), -32768, 32767).astype(np.int16)
