"""One shard of a speech source, as records tf.data can carry.

`ShardRecords` reads a source's `SpeechExample`s for one shard, shuffles
them through a bounded buffer and repeats them if asked, tokenizes and
checks each transcript with an `ExampleFilter`, and turns each example into
a dict of NumPy values matching `RECORD_SIGNATURE`, which
`tf.data.Dataset.from_generator` takes. No audio is decoded here: records
hold a path, encoded bytes or the in-memory samples, so that a shuffle
buffer of them stays small.

Example:

```python
import types
import numpy as np
import tensorflow as tf
from data_pipelines.example_filter import ExampleFilter
from data_pipelines.shard_records import RECORD_SIGNATURE, ShardRecords
from data_pipelines.skip_counter import SkipCounter

class Clips:
    def examples(self, shard_index=0, num_shards=1):
        for index in range(shard_index, 6, num_shards):
            yield types.SimpleNamespace(
                id=f"clip-{index}", text=f"clip {index}" if index else "",
                audio=np.zeros(16000, "float32"), sampling_rate=16000,
                path=None, audio_bytes=None)

skipped = SkipCounter()
texts = ExampleFilter(target_builder=None, min_audio_seconds=0.1, max_audio_seconds=30)
shard = ShardRecords(Clips(), 0, 2, texts)
dataset = tf.data.Dataset.from_generator(
    lambda: shard.records(skipped), output_signature=RECORD_SIGNATURE)
[r["id"] for r in dataset.as_numpy_iterator()]  # [b"clip-2", b"clip-4"]
skipped.counts()  # {"empty_text": 1}: clip-0 has no transcript
```
"""

import itertools
import os

import numpy as np
import tensorflow as tf

from data_pipelines.example_filter import SkippedExample
from data_pipelines.record_log import skip
from whisper import audio_io

# Fields of the records that flow from the Python generator into tf.data.
# Exactly one of `path`, `audio_bytes` and `audio` is non-empty.
RECORD_SIGNATURE = {
    "id": tf.TensorSpec((), tf.string),
    "text": tf.TensorSpec((), tf.string),
    "target_ids": tf.TensorSpec((None,), tf.int32),
    # Leading target ids that are a previous-text prompt, carrying no loss.
    "loss_start": tf.TensorSpec((), tf.int32),
    "path": tf.TensorSpec((), tf.string),
    "audio_bytes": tf.TensorSpec((), tf.string),
    # (samples, channels), recorded at `sampling_rate` Hz.
    "audio": tf.TensorSpec((None, None), tf.float32),
    "sampling_rate": tf.TensorSpec((), tf.int32),
    # The record's index in this shard's stream of records (see RecordLog).
    "position": tf.TensorSpec((), tf.int64),
}


class ShardRecords:
    """The checked records of one shard of a source.

    Args:
        source: an object whose `examples(shard_index, num_shards)` yields
            `SpeechExample`s.
        shard_index: int. Which shard.
        num_shards: int. How many shards the source is split into.
        example_filter: an `ExampleFilter`, whose `target` checks each
            transcript and builds its training target.
        shuffle_seed: non-negative int, or `None` for the source's order.
            Each pass over the shard gets its own order, drawn from the seed
            and the pass's number alone.
        shuffle_buffer: int. Examples held to shuffle among; 0 or 1 keeps
            the source's order.
        repeat: bool. Passes over the shard forever rather than once.
    """

    def __init__(
        self,
        source,
        shard_index,
        num_shards,
        example_filter,
        *,
        shuffle_seed=None,
        shuffle_buffer=0,
        repeat=False,
    ):
        self.source = source
        self.shard_index = shard_index
        self.num_shards = num_shards
        self.example_filter = example_filter
        self.shuffle_seed = shuffle_seed
        self.shuffle_buffer = shuffle_buffer
        self.repeat = repeat
        self._length = None

    def examples(self):
        """One pass over the shard's examples, in the source's order."""
        return self.source.examples(shard_index=self.shard_index, num_shards=self.num_shards)

    def records(self, skip_counter, record_log=None, start=None):
        """Yields a `RECORD_SIGNATURE` dict per example with a usable text.

        Every example of the (shuffled, repeated) stream has a position,
        its index in the stream; a record carries it. Examples with unusable
        transcripts are reported as `record_log.skip` says: counted in
        `skip_counter`, or noted in `record_log` if given, as every
        record's id is.

        Args:
            skip_counter: a `SkipCounter`.
            record_log: a `RecordLog`, or None.
            start: a `StreamState` to resume from (repeating shards only):
                its pending examples first, then the stream from its
                `next_position`, reached without decoding any audio.
        """
        for position, example in self._positioned_examples(start):
            try:
                record = self.record(example, position)
            except SkippedExample as skipped:
                skip(
                    skip_counter,
                    record_log,
                    position,
                    skipped.reason,
                    str(example.id),
                    skipped.detail,
                )
                continue
            if record_log is not None:
                record_log.add(position, record["id"])
            yield record

    def _positioned_examples(self, start):
        if start is None or start.next_position == 0:
            epochs = itertools.count() if self.repeat else [0]
            examples = (e for epoch in epochs for e in self._ordered_examples(epoch))
            yield from enumerate(examples)
            return
        if not self.repeat:
            raise ValueError("Only a repeating shard resumes from a StreamState.")
        # Every pass holds the same examples, so positions are epoch x length
        # plus the index in the pass, and whole passes are skipped by counting.
        length = self._epoch_length()
        held, wanted = [], set(start.pending)
        first_epoch = min(p // length for p in wanted | {start.next_position})
        for epoch in itertools.count(first_epoch):
            for index, example in enumerate(self._ordered_examples(epoch)):
                position = epoch * length + index
                if position < start.next_position:
                    if position in wanted:
                        held.append((position, example))
                    continue
                if held is not None:
                    yield from held
                    held = None
                yield position, example

    def _epoch_length(self):
        if self._length is None:
            self._length = sum(1 for _ in self.examples())
        return self._length

    def _ordered_examples(self, epoch):
        if self.shuffle_seed is None or self.shuffle_buffer <= 1:
            return self.examples()
        random = np.random.default_rng([self.shuffle_seed, epoch])
        return buffered_shuffle(self.examples(), self.shuffle_buffer, random)

    def record(self, example, position=-1):
        """The record of one example at `position` in the stream.

        Raises:
            SkippedExample: its transcript cannot be used.
            TypeError: its in-memory audio is not float or int PCM.
        """
        target = self.example_filter.target(example, position)
        return {
            "id": str(example.id),
            "text": example.text,
            "target_ids": np.asarray(target.ids, np.int32),
            "loss_start": target.loss_start,
            "path": os.fspath(example.path) if example.path is not None else "",
            "audio_bytes": example.audio_bytes or b"",
            "audio": _samples_by_channel(example.id, example.audio),
            "sampling_rate": example.sampling_rate or 0,
            "position": position,
        }

    def describe(self):
        return f"{self.source!r} (shard {self.shard_index} of {self.num_shards})"


def buffered_shuffle(items, buffer_size, random):
    """Yields `items` in a random order, holding at most `buffer_size`.

    Like `tf.data.Dataset.shuffle`, but its order depends on `random` (a
    NumPy `Generator`) alone, not on TensorFlow's global seed, which a
    resumed run might set differently or not at all.
    """
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        index = random.integers(buffer_size)
        yield buffer[index]
        buffer[index] = item
    random.shuffle(buffer)
    yield from buffer


def _samples_by_channel(example_id, audio):
    """In-memory audio as float32 `(samples, channels)`; empty if `None`."""
    if audio is None:
        return np.zeros((0, 1), np.float32)
    try:
        audio = audio_io.pcm_to_float(audio)
    except TypeError as error:
        raise TypeError(f"Example {example_id!r}: {error}") from None
    return audio[:, None] if audio.ndim == 1 else audio
