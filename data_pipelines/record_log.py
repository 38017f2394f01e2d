"""What a pipeline reports about its records: ids, and which were dropped.

Every record of a shard's stream gets a position (its index in the
shuffled, repeated stream of the shard's examples), which travels with it
into the batch (int64, which every device can hold, unlike strings). The
pipeline notes here each position's example id and each position it drops
(an unusable transcript, unreadable audio, a clip too long, non-finite
features), with why. From these the host knows exactly where the stream
stands after any batch (`StreamPosition`), can name a batch's examples, and
counts a skipped example only once the stream has been consumed past it:
tf.data reads ahead, and examples it skipped while reading ahead are not
part of the run.

Only the newest `capacity` ids are kept; a batch's records are always among
them, since batches form within a bounded distance of their records.

Example:

```python
from data_pipelines.record_log import RecordLog

log = RecordLog(capacity=2)
for position, example_id in enumerate(["a", "b", "c"]):
    log.add(position, example_id)
log.drop(1, "too_long", "b", "41.2 s > 30 s")
log.ids([1, 2, 0])  # ["b", "c", "position 0"]
log.take_dropped(through=2)  # {1: ("too_long", "b", "41.2 s > 30 s")}
```
"""

import collections
import threading

import numpy as np


class RecordLog:
    """Thread-safe ids of the newest record positions, and dropped positions.

    tf.data's threads add and drop; the training loop reads.
    """

    def __init__(self, capacity=1 << 16):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._ids = collections.OrderedDict()
        self._dropped = {}

    def add(self, position, example_id):
        with self._lock:
            self._ids[int(position)] = example_id
            if len(self._ids) > self.capacity:
                self._ids.popitem(last=False)

    def drop(self, position, reason, example_id, detail=""):
        """Notes that the record at `position` will be in no batch, and why
        (a `SkipCounter` reason, the example's id and what was wrong)."""
        with self._lock:
            self._dropped[int(position)] = (reason, example_id, detail)

    def take_dropped(self, through):
        """Removes and returns {position: (reason, id, detail)} of the
        dropped positions up to `through`."""
        with self._lock:
            taken = {p: why for p, why in self._dropped.items() if p <= through}
            for position in taken:
                del self._dropped[position]
            return taken

    def ids(self, positions):
        """The ids at `positions` (any shape; -1, which pads packed
        windows, is left out); `"position N"` for one no longer kept."""
        positions = [int(p) for p in np.ravel(positions) if p >= 0]
        with self._lock:
            return [self._ids.get(p, f"position {p}") for p in positions]


def skip(skip_counter, record_log, position, reason, example_id, detail=""):
    """Reports a skipped example: counted in `skip_counter` now or, in a
    pipeline with a `record_log`, noted there, to be counted by the
    `StreamPosition` that consumes the stream past it."""
    if record_log is None:
        skip_counter.skip(reason, example_id, detail)
    else:
        record_log.drop(position, reason, example_id, detail)
