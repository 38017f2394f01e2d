"""Counting updates skipped for a non-finite loss or gradient.

One bad batch (a corrupt clip that slipped through, a loss spike) should
cost one skipped update, not the run; a run whose updates keep being
skipped has diverged, and continuing would only burn accelerator hours.
`SkippedUpdates` counts both and stops the run with a `DivergedError`
naming the last batch's examples. The `Trainer` skips the update itself
and reports it as the step's `"skipped_update"` metric.

Example:

```python
from train.skipped_updates import DivergedError, SkippedUpdates

skipped = SkippedUpdates(max_in_a_row=2)
skipped.record(1, {"skipped_update": 1.0, "loss": float("nan"), "grad_norm": 0.0}, lambda: ["a"])
skipped.record(2, {"skipped_update": 0.0, "loss": 2.5, "grad_norm": 1.0}, lambda: ["b"])
assert (skipped.total, skipped.in_a_row) == (1, 0)
```
"""


class DivergedError(RuntimeError):
    """Too many updates in a row had a non-finite loss or gradient."""


class SkippedUpdates:
    """Counts skipped updates; stops the run after too many in a row.

    Args:
        max_in_a_row: int. Consecutive skipped updates that end the run: by
            then the weights or the data, not one unlucky batch, are at fault.
    """

    def __init__(self, max_in_a_row):
        self.max_in_a_row = max_in_a_row
        self.total = 0
        self.in_a_row = 0

    def record(self, step, metrics, example_ids):
        """Notes one step's metrics; raises `DivergedError` at the limit.

        `example_ids` gives the batch's example ids; called only to stop.
        """
        if not metrics["skipped_update"]:
            self.in_a_row = 0
            return
        self.total += 1
        self.in_a_row += 1
        if self.in_a_row >= self.max_in_a_row:
            ids = example_ids()
            shown = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
            raise DivergedError(
                f"{self.in_a_row} updates in a row had a non-finite loss or gradient "
                f"(step {step}: loss {metrics['loss']}, gradient norm "
                f"{metrics['grad_norm']}); the last batch held examples [{shown}]. Lower "
                f"optimizer.learning_rate, check those examples, or raise "
                f"trainer.max_skipped_updates_in_a_row."
            )
