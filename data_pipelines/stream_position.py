"""Where a training pipeline's record stream stands, to resume without replay.

Resuming by replaying the batches a run has consumed would decode every
clip again: hours at step 100,000. Instead the position is kept at the
record level. A `StreamState` says, after `batches` batches, which record
comes next (`next_position`) and which earlier records were read but are in
no batch yet (`pending`: with clip-length windows, records wait in their
length bucket until it fills). A pipeline built from a state reads the
shard's examples without decoding them up to `next_position` (whole epochs
are skipped by counting), yields the pending records first, then continues,
so every batch is the one the uninterrupted run would have made.

`StreamPosition` keeps the state on the host as batches are consumed,
from each batch's record positions and the positions the pipeline dropped
(see `RecordLog`), and counts those drops as skipped examples once they are
consumed. Batches are emitted when the record that completes them
arrives, in stream order, so a batch's highest position is the last record
read when it was made; every earlier record is in a batch, dropped, or
pending.

Example:

```python
from data_pipelines.record_log import RecordLog
from data_pipelines.stream_position import StreamPosition, StreamState

log = RecordLog()
stream = StreamPosition(log)
log.drop(1, "unreadable", "clip-1")  # position 1 was unreadable
log.drop(9, "unreadable", "clip-9")  # read ahead: in no batch consumed yet
stream.consume([0, 3])  # a batch made of records 0 and 3
stream.state()  # StreamState(batches=1, next_position=4, pending=(2,))
stream.skipped.counts()  # {"unreadable": 1}
```
"""

import dataclasses

import numpy as np

from data_pipelines.skip_counter import SkipCounter


@dataclasses.dataclass(frozen=True)
class StreamState:
    """A pipeline's place in its record stream; JSON-able through `to_json`."""

    batches: int = 0
    next_position: int = 0
    pending: tuple = ()

    def to_json(self):
        return {
            "batches": self.batches,
            "next_position": self.next_position,
            "pending": list(self.pending),
        }

    @classmethod
    def from_json(cls, data):
        return cls(int(data["batches"]), int(data["next_position"]), tuple(data["pending"]))


class StreamPosition:
    """Follows a pipeline's `StreamState` as its batches are consumed, in
    order, and counts the skipped examples among the records consumed.

    Args:
        record_log: the pipeline's `RecordLog`.
        state: the `StreamState` it starts from.
        skipped: the `SkipCounter` to count in; a new one by default.
    """

    def __init__(self, record_log, state=StreamState(), skipped=None):
        self.record_log = record_log
        self.skipped = SkipCounter() if skipped is None else skipped
        self.batches = state.batches
        self.next_position = state.next_position
        self.pending = set(state.pending)

    def consume(self, positions):
        """Notes one batch, given its rows' record positions: `(rows,)`, or
        `(rows, members)` for packed windows, where -1 pads."""
        positions = {int(p) for p in np.ravel(positions) if p >= 0}
        last = max(positions)
        if last < self.next_position:
            raise ValueError(
                f"A batch whose last record {last} precedes position {self.next_position}: "
                "batches must be consumed in the order the pipeline made them."
            )
        read = set(range(self.next_position, last + 1))
        dropped = self.record_log.take_dropped(through=last)
        for reason, example_id, detail in dropped.values():
            self.skipped.skip(reason, example_id, detail)
        read -= dropped.keys()
        self.pending = (self.pending | read) - positions
        self.next_position = last + 1
        self.batches += 1

    def state(self):
        return StreamState(self.batches, self.next_position, tuple(sorted(self.pending)))
