"""`SpeechSource`, the base class of every source of `SpeechExample`s.

A source reads one corpus (a manifest, a Hugging Face or TensorFlow dataset,
the built-in synthetic corpus) and yields its examples, shard by shard:
`examples(shard_index, num_shards)` gives one input worker its share. Shards
are deterministic (the same share every call), disjoint and, together,
cover the whole source, so `num_shards` workers read every example exactly
once per pass. `len(source)` is the number of examples when the source
knows it (a streamed dataset does not).

Example:

```python
import numpy as np
from data_pipelines.speech_example import SpeechExample
from data_pipelines.speech_source import SpeechSource, round_robin

class Tones(SpeechSource):
    name = "tones"

    @property
    def num_examples(self):
        return 4

    def _examples(self, shard_index, num_shards):
        tones = (
            SpeechExample(id=f"tone-{i}", text=f"tone {i}",
                          audio=np.zeros(1600, "float32"), sampling_rate=16000)
            for i in range(4)
        )
        return round_robin(tones, shard_index, num_shards)

[example.id for example in Tones().examples(shard_index=1, num_shards=2)]
# ['tone-1', 'tone-3']
```
"""

import itertools
import numbers


class DatasetUnavailableError(OSError):
    """A dataset that is neither on this machine nor downloadable now."""


class SpeechSource:
    """A corpus of `SpeechExample`s, read in shards.

    Subclasses set `name` and implement `_examples(shard_index, num_shards)`;
    they override `num_examples` when they know their size.
    """

    name = "speech_source"

    def examples(self, shard_index=0, num_shards=1):
        """Yields the `SpeechExample`s of one shard, always in one order.

        Args:
            shard_index: int. Which shard, in `[0, num_shards)`.
            num_shards: int. Into how many disjoint shards the source is cut,
                e.g. the number of input workers.
        """
        check_shard(shard_index, num_shards)
        return self._examples(shard_index, num_shards)

    def _examples(self, shard_index, num_shards):
        # Abstract: every concrete source (manifest, datasets, TFDS,
        # synthetic) overrides it; `examples` checks the shard first.
        raise NotImplementedError(f"{type(self).__name__} must implement `_examples`.")

    @property
    def num_examples(self):
        """The number of examples in the source, or None if unknown."""
        return None

    def __len__(self):
        if self.num_examples is None:
            raise TypeError(
                f"The number of examples of source '{self.name}' is unknown "
                f"until it is read (a streamed dataset)."
            )
        return self.num_examples

    def __repr__(self):
        size = self.num_examples
        size = "unknown size" if size is None else f"{size} examples"
        return f"<{type(self).__name__} '{self.name}', {size}>"


def check_shard(shard_index, num_shards):
    """Raises ValueError unless `0 <= shard_index < num_shards`."""
    for argument, value in (("shard_index", shard_index), ("num_shards", num_shards)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"`{argument}` must be an int, got {value!r}.")
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(
            f"Shard {shard_index} of {num_shards} does not exist: `num_shards` "
            f"must be at least 1 and `shard_index` in [0, num_shards)."
        )


def round_robin(items, shard_index, num_shards):
    """Items `shard_index`, `shard_index + num_shards`, ... of `items`."""
    return itertools.islice(items, shard_index, None, num_shards)
