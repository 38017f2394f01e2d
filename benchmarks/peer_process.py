"""Runs each side of a benchmark in a process of its own.

A measurement is a function `measure(settings) -> dict` in some module; the
parent names it as "module:function" and gets its dict back:

    results = measure_in_process("benchmarks.train_step:measure_ours", {"batch_size": 2})

Separate processes keep one side's compiled programs, thread pools and
allocator caches from slowing or speeding the other, and let each report
its own peak memory. `alternate` runs the sides in turn, several rounds,
so that a slow phase of a shared host hits every side alike.
"""

import importlib
import json
import os
import resource
import subprocess
import sys
import threading

# The child prints its result after this marker, on the last line of stdout.
RESULT_MARKER = "BENCHMARK-RESULT "


class MeasurementError(RuntimeError):
    """A measurement process failed; the message holds the end of its stderr."""


def measure_in_process(target, settings, timeout=3600):
    """Runs `target` ("module:function") on `settings` in a new Python process."""
    command = [sys.executable, "-m", "benchmarks.peer_process", target, json.dumps(settings)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    result_lines = [
        line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARKER)
    ]
    if completed.returncode != 0 or not result_lines:
        raise MeasurementError(
            f"{target} failed with exit status {completed.returncode}:\n{completed.stderr[-3000:]}"
        )
    return json.loads(result_lines[-1][len(RESULT_MARKER) :])


def alternate(sides, rounds):
    """Measures each side once per round, in turn; returns {name: [results]}.

    `sides` maps a name to `(target, settings)`.
    """
    results = {name: [] for name in sides}
    for _ in range(rounds):
        for name, (target, settings) in sides.items():
            results[name].append(measure_in_process(target, settings))
    return results


def peak_memory_bytes():
    """The largest resident set this process has had (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def resident_memory_bytes():
    """This process's resident set now."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakResidentMemory:
    """The largest resident set seen while the `with` block runs.

    A thread samples `/proc/self/statm` every `interval` seconds: unlike
    the process's lifetime peak, this excludes what came before (start-up,
    compilation) and comes back down when an allocator returns memory.
    """

    def __init__(self, interval=0.002):
        self.interval = interval
        self.peak_bytes = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self.peak_bytes = resident_memory_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._thread.join()

    def _sample(self):
        while not self._done.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, resident_memory_bytes())


def _run_target(target, settings):
    module_name, function_name = target.split(":")
    measure = getattr(importlib.import_module(module_name), function_name)
    result = measure(settings)
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    _run_target(sys.argv[1], json.loads(sys.argv[2]))
