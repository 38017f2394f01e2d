"""Stopping at a step boundary when the machine is being taken away.

Slurm (`scancel`, preemption, `--signal`), Kubernetes (pod deletion, node
drain) and Cloud TPU preemption all send SIGTERM, then SIGKILL after a grace
period. Dying at once would lose every step since the last checkpoint; a
`StopRequest` records the signal instead, and the training loop, at the end
of the step in flight, saves a checkpoint and exits with `STOPPED_STATUS`
(143, as if killed by SIGTERM: the run is not finished, so Kubernetes
restarts the pod instead of marking it Succeeded), and the same command
resumes from that step. Under several workers the signal may reach them at
different steps; `agreed` stops them all at the same one.

Example:

```python
import os
import signal
from train.preemption import StopRequest

with StopRequest() as stop:
    os.kill(os.getpid(), signal.SIGTERM)  # what a scheduler would send
    assert stop.requested
```
"""

import signal

# The exit status of a run stopped by SIGTERM after saving its checkpoint.
STOPPED_STATUS = 128 + signal.SIGTERM


class StopRequest:
    """Catches SIGTERM while active; the previous handler comes back after."""

    def __init__(self, signals=(signal.SIGTERM,)):
        self.signals = signals
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for signal_number in self.signals:
            self._previous[signal_number] = signal.signal(signal_number, self._handle)
        return self

    def __exit__(self, *exc_info):
        for signal_number, handler in self._previous.items():
            signal.signal(signal_number, handler)

    def _handle(self, signal_number, frame):
        self.requested = True

    def agreed(self, strategy):
        """Whether any worker of `strategy` was asked to stop (all agree).

        One all-reduce of a scalar under several workers; free otherwise.
        """
        from train.strategy import any_worker

        return any_worker(strategy, self.requested)
