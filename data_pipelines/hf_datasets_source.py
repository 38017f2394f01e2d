"""`HFDatasetsSource`: speech from a Hugging Face `datasets` dataset.

`dataset` is either a directory written by `Dataset.save_to_disk` or
`DatasetDict.save_to_disk` (read with `datasets.load_from_disk`), or anything
`datasets.load_dataset` accepts: a Hub name such as
`"openslr/librispeech_asr"` with a `config` and `split`, or a packaged
builder such as `"parquet"` with `data_files`. `streaming=True` reads a Hub
dataset without downloading all of it first.

The audio column is read with `datasets.Audio(decode=False)`, so each
example carries the encoded file (`audio_bytes`) or, when a dataset keeps
only paths, its `path`; the input pipeline decodes it with
`whisper.audio_io`. (Decoding in `datasets` would need torchcodec, and would
hand over arrays at whatever rate the file has.) A plain string column is
taken as paths. Rows without audio or with a text that is not a string are
skipped, logged and counted in `skipped_rows`, each time they are read.

Offline, a Hub dataset that is not in the local `datasets` cache fails with
a `DatasetUnavailableError` naming it. With `WHISPER_KERAS_OFFLINE=1` the Hub
is not contacted at all (cached copies still load), instead of `datasets`
retrying an unreachable server for about 20 seconds.

Shards: rows `shard_index`, `shard_index + num_shards`, ... of a dataset in
memory or on disk; for a streamed dataset, whole files per shard when the
file count divides evenly, else every `num_shards`-th row
(`datasets.distributed.split_dataset_by_node`).

Example:

```python
import datasets
import numpy as np
import soundfile
from data_pipelines.hf_datasets_source import HFDatasetsSource

soundfile.write("hello.wav", np.zeros(16000, "float32"), 16000)
table = datasets.Dataset.from_dict({"audio": ["hello.wav"], "text": ["Hello."]})
table.cast_column("audio", datasets.Audio()).save_to_disk("tiny_dataset")

source = HFDatasetsSource("tiny_dataset")
example = next(source.examples())
example.text, example.audio_bytes[:4]  # ('Hello.', b'RIFF')
```
"""

import collections
import contextlib
import logging
import os

import datasets
from datasets.distributed import split_dataset_by_node

from data_pipelines.speech_example import SpeechExample
from data_pipelines.speech_source import DatasetUnavailableError
from data_pipelines.speech_source import SpeechSource
from whisper.utils.offline import downloads_disabled

# Files `save_to_disk` writes: one Dataset, or a DatasetDict of several.
SAVED_DATASET_FILES = ("state.json", "dataset_dict.json")

logger = logging.getLogger(__name__)


class HFDatasetsSource(SpeechSource):
    """Speech examples from a Hugging Face dataset, local or on the Hub.

    Args:
        dataset: str. A `save_to_disk` directory, or a `load_dataset` path.
        config: str. The dataset configuration (`load_dataset`'s `name`),
            e.g. "clean" for LibriSpeech.
        split: str. The split, e.g. "train" or "validation[:10%]"; for a
            saved `Dataset` (not a `DatasetDict`) it is ignored.
        streaming: bool. Stream a Hub or packaged dataset instead of
            downloading and preparing it first.
        audio_column: str. An `Audio` column, or a column of file paths.
        text_column: str. The transcript column.
        id_column: str. The example id column, used when the dataset has
            it; otherwise ids are `<split>:<row>`.
        data_files: passed to `load_dataset` (packaged builders).
        data_dir: passed to `load_dataset`.
        cache_dir: passed to `load_dataset`.
        revision: passed to `load_dataset`: a Hub branch, tag or commit.
    """

    def __init__(
        self,
        dataset,
        config=None,
        split="train",
        streaming=False,
        audio_column="audio",
        text_column="text",
        id_column="id",
        data_files=None,
        data_dir=None,
        cache_dir=None,
        revision=None,
    ):
        self.dataset_name = os.fspath(dataset)
        self.config = config
        self.split = split
        self.audio_column = audio_column
        self.text_column = text_column
        self.id_column = id_column
        self.name = "/".join(part for part in (self.dataset_name, config, split) if part)
        self.skipped_rows = collections.Counter()
        if os.path.isabs(self.dataset_name) and not os.path.exists(self.dataset_name):
            raise FileNotFoundError(f"Dataset directory '{self.dataset_name}' does not exist.")
        if _is_saved_dataset(self.dataset_name):
            dataset = self._load_from_disk()
        else:
            dataset = self._load_dataset(
                streaming,
                data_files=data_files,
                data_dir=data_dir,
                cache_dir=cache_dir,
                revision=revision,
            )
        self._streamed = isinstance(dataset, datasets.IterableDataset)
        self._dataset = self._undecoded(dataset)

    @property
    def num_examples(self):
        return None if self._streamed else len(self._dataset)

    def _examples(self, shard_index, num_shards):
        if self._streamed:
            rows = split_dataset_by_node(self._dataset, rank=shard_index, world_size=num_shards)
            positions = None
        else:
            rows = self._dataset.shard(num_shards, shard_index, contiguous=False)
            positions = range(shard_index, len(self._dataset), num_shards)
        for number, row in enumerate(rows):
            position = number if positions is None else positions[number]
            example = self._example(row, position, shard_index, num_shards)
            if example is not None:
                yield example

    def _example(self, row, position, shard_index, num_shards):
        """The row's `SpeechExample`, or None (counted) for a bad row."""
        self._check_columns(row)
        if row.get(self.id_column) not in (None, ""):
            example_id = str(row[self.id_column])
        elif self._streamed:
            # A stream's global row number is unknown to one shard.
            example_id = f"{self.split}:shard{shard_index}of{num_shards}:{position}"
        else:
            example_id = f"{self.split}:{position}"
        text = row[self.text_column]
        if not isinstance(text, str):
            return self._skip("text_not_a_string", example_id, f"text is {text!r}")
        audio = row[self.audio_column]
        if isinstance(audio, str) and audio:
            return SpeechExample(id=example_id, text=text, path=audio)
        if isinstance(audio, dict) and audio.get("bytes"):
            return SpeechExample(id=example_id, text=text, audio_bytes=audio["bytes"])
        if isinstance(audio, dict) and audio.get("path"):
            return SpeechExample(id=example_id, text=text, path=audio["path"])
        return self._skip("missing_audio", example_id, f"audio is {audio!r}")

    def _skip(self, reason, example_id, detail):
        self.skipped_rows[reason] += 1
        logger.warning("Dataset '%s', example %s: %s; skipping it.", self.name, example_id, detail)
        return None

    def _load_from_disk(self):
        loaded = datasets.load_from_disk(self.dataset_name)
        if not isinstance(loaded, datasets.DatasetDict):
            return loaded
        if self.split not in loaded:
            raise ValueError(
                f"Dataset '{self.dataset_name}' has no split '{self.split}'; "
                f"its splits: {', '.join(loaded)}."
            )
        return loaded[self.split]

    def _load_dataset(self, streaming, **options):
        try:
            with _hub_offline_if_disabled():
                return datasets.load_dataset(
                    self.dataset_name,
                    self.config,
                    split=self.split,
                    streaming=streaming,
                    **options,
                )
        except ConnectionError as error:
            raise DatasetUnavailableError(
                f"Cannot load Hugging Face dataset '{self.dataset_name}' "
                f"(config {self.config!r}, split {self.split!r}): it is not in "
                f"the local `datasets` cache and the Hugging Face Hub cannot be "
                f"reached ({error}). It needs network access to the Hub, or a "
                f"local copy: on a machine with network, load it and call "
                f"`.save_to_disk(directory)`, then pass that directory as "
                f"`dataset`."
            ) from error

    def _undecoded(self, dataset):
        """The dataset with its audio column as file bytes and paths."""
        features = dataset.features
        # A stream without declared features decodes nothing; its columns
        # are checked as its rows arrive.
        if features is None:
            return dataset
        self._check_columns(features)
        if isinstance(features[self.audio_column], datasets.Audio):
            return dataset.cast_column(self.audio_column, datasets.Audio(decode=False))
        return dataset

    def _check_columns(self, columns):
        for argument, column in (
            ("audio_column", self.audio_column),
            ("text_column", self.text_column),
        ):
            if column not in columns:
                raise ValueError(
                    f"Dataset '{self.name}' has no column '{column}'; its "
                    f"columns: {', '.join(columns)}. Set `{argument}`."
                )


def _is_saved_dataset(path):
    return any(os.path.isfile(os.path.join(path, name)) for name in SAVED_DATASET_FILES)


@contextlib.contextmanager
def _hub_offline_if_disabled():
    """`datasets`'s offline mode while `WHISPER_KERAS_OFFLINE=1`.

    `datasets` reads HF_HUB_OFFLINE once, at import; its config value is what
    `load_dataset` consults, so it is switched for this call only.
    """
    if not downloads_disabled():
        yield
        return
    previous = datasets.config.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE = previous
