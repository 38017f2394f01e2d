"""Stopping at a step boundary when asked: SIGTERM from a scheduler, Ctrl-C.

Slurm (`scancel`, preemption, `--signal`), Kubernetes (pod deletion, node
drain) and Cloud TPU preemption all send SIGTERM, then SIGKILL after a grace
period; a user at a terminal presses Ctrl-C (SIGINT). Dying at once would
lose every step since the last checkpoint; a `StopRequest` records the
signal instead, and the training loop, at the end of the step in flight,
saves a checkpoint and exits with `stopped_status` (143 after SIGTERM, 130
after SIGINT, as if killed by the signal: the run is not finished, so
Kubernetes restarts the pod instead of marking it Succeeded), and the same
command resumes from that step. Under several workers the signal may reach
them at different steps; `agreed` stops them all at the same one.

A second Ctrl-C stops at once, without a checkpoint (the last one stays:
checkpoint writes are atomic). Python runs signal handlers only between
bytecodes of the main thread, which may be inside a compiled step or an XLA
compilation for minutes; so a thread of this module reads each signal as it
arrives (`signal.set_wakeup_fd`), says on stderr what will happen, and ends
the process on the second Ctrl-C.

Example:

```python
import os
import signal
from train.preemption import StopRequest

with StopRequest() as stop:
    os.kill(os.getpid(), signal.SIGTERM)  # what a scheduler would send
    assert stop.requested and stop.stopped_status == 143
```
"""

import os
import signal
import sys
import threading

# Exit statuses of a run stopped by a signal after saving its checkpoint: as
# if the signal had killed it (128 + its number).
STOPPED_STATUS = 128 + signal.SIGTERM
INTERRUPTED_STATUS = 128 + signal.SIGINT
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Catches SIGTERM and SIGINT while active; the previous handlers come
    back after. The second SIGINT ends the process at once."""

    def __init__(self):
        self.signal_number = None
        self._interrupts = 0
        self._previous = {}
        self._lock = threading.Lock()

    @property
    def requested(self):
        return self.signal_number is not None

    @property
    def stopped_status(self):
        """The exit status for the signal that asked to stop (SIGTERM's when
        the signal went to another worker)."""
        return INTERRUPTED_STATUS if self.signal_number == signal.SIGINT else STOPPED_STATUS

    @property
    def signal_name(self):
        if self.signal_number is None:
            return "a stop signal to another worker"
        return "Ctrl-C (SIGINT)" if self.signal_number == signal.SIGINT else "SIGTERM"

    def __enter__(self):
        for signal_number in STOP_SIGNALS:
            self._previous[signal_number] = signal.signal(signal_number, self._handle)
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._pipe = (read_end, write_end)
        self._previous_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, args=(read_end,), daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        signal.set_wakeup_fd(self._previous_wakeup)
        for signal_number, handler in self._previous.items():
            signal.signal(signal_number, handler)
        os.close(self._pipe[1])  # The watcher reads the end of the pipe and returns.

    def _handle(self, signal_number, frame):
        # The watcher has seen the signal already; this only keeps Python's
        # default handlers (KeyboardInterrupt, death) away while active.
        self._note(signal_number)

    def _watch(self, read_end):
        try:
            while data := os.read(read_end, 64):
                for signal_number in data:
                    self._react(signal_number)
        finally:
            os.close(read_end)

    def _react(self, signal_number):
        """Runs in the watcher thread as soon as a signal arrives."""
        if signal_number not in STOP_SIGNALS:
            return
        first = self._note(signal_number)
        if signal_number == signal.SIGINT:
            self._interrupts += 1
            if self._interrupts > 1:
                _say("Second Ctrl-C: stopped at once, without a checkpoint.")
                sys.stdout.flush()  # os._exit flushes nothing.
                os._exit(INTERRUPTED_STATUS)
            _say(
                "Ctrl-C: a checkpoint will be saved after the step in progress, then the run "
                "stops (press Ctrl-C again to stop at once, without it)."
            )
        elif first:
            _say("SIGTERM: a checkpoint will be saved after the step in progress.")

    def _note(self, signal_number):
        """Records the first stop signal; whether this was it."""
        with self._lock:
            if self.signal_number is None:
                self.signal_number = signal_number
                return True
            return False

    def agreed(self, strategy):
        """Whether any worker of `strategy` was asked to stop (all agree).

        One all-reduce of a scalar under several workers; free otherwise.
        """
        from train.strategy import any_worker

        return any_worker(strategy, self.requested)


def _say(message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
