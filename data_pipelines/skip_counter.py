"""Counts the examples a data pipeline skipped, by reason.

A training set of thousands of files always holds a few that cannot be used:
a truncated download, an empty transcript, a clip longer than the model
hears. The pipeline skips them rather than stopping a long run, and records
each one here, so that the trainer can log how many were skipped and why,
with a few example ids to look at.

Example:

```python
from data_pipelines.skip_counter import SkipCounter

counter = SkipCounter()
counter.skip("too_long", "clip-7", "41.2 s > 30 s")
counter.skip("empty_file", "clip-9", "the file is empty")
counter.skip("too_long", "clip-12", "35.0 s > 30 s")
counter.counts()  # {"too_long": 2, "empty_file": 1}
print(counter.summary())
# Skipped 3 examples: too_long 2 (clip-7: 41.2 s > 30 s; clip-12: ...),
# empty_file 1 (clip-9: the file is empty).
```

The reasons are short stable names: the data pipeline's are listed in
`example_filter.SKIP_REASONS`, a manifest's malformed rows' in
`manifest_source.ROW_SKIP_REASONS`.
"""

import collections
import threading


class SkipCounter:
    """Thread-safe counts of skipped examples by reason, with a few ids.

    tf.data calls `skip` from its own threads while the trainer reads the
    counts from the main thread, hence the lock. An example skipped again on
    a later pass over the data (or by a resumed run replaying batches) is
    counted again: the counts are of skips, not of distinct examples.

    Args:
        examples_per_reason: int. How many `(id, detail)` pairs to keep for
            each reason: those of the first distinct ids met.
    """

    def __init__(self, examples_per_reason=3):
        self.examples_per_reason = examples_per_reason
        self._lock = threading.Lock()
        self._counts = collections.Counter()
        self._examples = collections.defaultdict(list)

    def skip(self, reason, example_id, detail=""):
        """Records that `example_id` was skipped for `reason`.

        Args:
            reason: str. A short, stable name such as `"too_long"`.
            example_id: str. The example's id in its source.
            detail: str. What exactly was wrong, e.g. `"41.2 s > 30 s"`.
        """
        with self._lock:
            self._counts[reason] += 1
            self._keep(reason, example_id, detail)

    def update(self, other):
        """Adds every skip `other`, another `SkipCounter`, recorded.

        E.g. the rows a manifest dropped when it was read, into the counter
        of the pipeline that reads its examples, so that one summary holds
        every skip of a run.
        """
        counts = other.counts()
        examples = {reason: other.examples(reason) for reason in counts}
        with self._lock:
            for reason, count in counts.items():
                self._counts[reason] += count
                for example_id, detail in examples[reason]:
                    self._keep(reason, example_id, detail)

    def _keep(self, reason, example_id, detail):
        """Keeps `(example_id, detail)` among `reason`'s examples, if room."""
        kept = self._examples[reason]
        # An example met again on a later pass adds nothing new to see.
        is_new = all(kept_id != example_id for kept_id, _ in kept)
        if is_new and len(kept) < self.examples_per_reason:
            kept.append((example_id, detail))

    @property
    def total(self):
        with self._lock:
            return sum(self._counts.values())

    def counts(self):
        """A dict of reason to number of skips, most frequent first."""
        with self._lock:
            return dict(self._counts.most_common())

    def examples(self, reason):
        """The first `(id, detail)` pairs recorded for `reason`."""
        with self._lock:
            return list(self._examples.get(reason, []))

    def summary(self):
        """One line for a log: the total, then each reason with examples."""
        counts = self.counts()
        if not counts:
            return "No examples were skipped."
        parts = [
            f"{reason} {count} ({self._describe_examples(reason)})"
            for reason, count in counts.items()
        ]
        total = sum(counts.values())
        noun = "example" if total == 1 else "examples"
        return f"Skipped {total} {noun}: {', '.join(parts)}."

    def _describe_examples(self, reason):
        described = [
            f"{example_id}: {detail}" if detail else example_id
            for example_id, detail in self.examples(reason)
        ]
        return "; ".join(described)

    def __repr__(self):
        return f"SkipCounter({self.counts()})"
