"""Preemption: SIGTERM saves and exits 143 (not finished), Ctrl-C saves and exits 130 (a second
Ctrl-C stops at once); SIGKILL at any moment, then the same command, resumes; an interrupted run
ends with the uninterrupted run's weights.

Every run is the real `python -m train` process.
"""

import random
import re
import signal
import subprocess
import threading
import time

import h5py
import numpy as np
import pytest
from train_cli import ROOT
from train_cli import train_command
from train_cli import train_environment

from train.preemption import INTERRUPTED_STATUS
from train.preemption import STOPPED_STATUS

# Dropout and SpecAugment on, so that their random state must resume too; a
# checkpoint every step, so that a kill can land anywhere.
EXACT_RUN = (
    "debug=fast",
    "tracker=console",
    "trainer.steps=10",
    "trainer.checkpoint_every_steps=1",
    "trainer.eval_every_steps=100",
    "data.spec_augment=true",
    "+model.architecture.dropout=0.1",
)
STEP_LINE = re.compile(r"^step (\d+)/\d+ \(\d+%\) \| loss ")


class TrainProcess:
    """A `python -m train` process whose console lines are read as they come."""

    def __init__(self, *overrides):
        self.lines = []
        self.process = subprocess.Popen(
            train_command(*overrides),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=train_environment(),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def latest_step(self):
        steps = [int(m.group(1)) for m in map(STEP_LINE.match, list(self.lines)) if m]
        return max(steps, default=0)

    def wait_for_step(self, step, timeout=600):
        deadline = time.time() + timeout
        while self.latest_step() < step:
            if self.process.poll() is not None or time.time() > deadline:
                raise AssertionError("\n".join(self.lines[-40:]))
            time.sleep(0.05)

    def finish(self, timeout=900):
        status = self.process.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return status, "\n".join(self.lines)


@pytest.mark.slow
@pytest.mark.longest
def test_sigterm_then_kills_at_random_moments_end_with_the_uninterrupted_weights(tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    status, output = TrainProcess(*EXACT_RUN, f"run_dir={reference}").finish()
    assert status == 0, output[-3000:]

    # SIGTERM: a checkpoint at the next step, exit 143, no preset yet.
    run = TrainProcess(*EXACT_RUN, "trainer.checkpoint_every_steps=1000", f"run_dir={interrupted}")
    run.wait_for_step(3)
    run.process.send_signal(signal.SIGTERM)
    status, output = run.finish()
    assert status == STOPPED_STATUS == 143, output[-3000:]
    stopped = int(re.search(r"Stopped by SIGTERM after step (\d+)", output).group(1))
    assert stopped >= 3 and "Run the same command to resume." in output
    assert (interrupted / "checkpoints" / f"step-{stopped:09d}").is_dir()
    assert not (interrupted / "preset").exists()

    # Ctrl-C (SIGINT) after the resumed run's next step: the same, with 130,
    # and no traceback.
    run = TrainProcess(*EXACT_RUN, "trainer.checkpoint_every_steps=1000", f"run_dir={interrupted}")
    run.wait_for_step(stopped + 1)
    run.process.send_signal(signal.SIGINT)
    status, output = run.finish()
    assert status == INTERRUPTED_STATUS == 130, output[-3000:]
    stopped = int(re.search(r"Stopped by Ctrl-C \(SIGINT\) after step (\d+)", output).group(1))
    assert (interrupted / "checkpoints" / f"step-{stopped:09d}").is_dir()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output

    # Then SIGKILL some time after a random later step: inside a step, an
    # evaluation or a checkpoint write.
    randomness = random.Random(8)
    for _ in range(2):
        run = TrainProcess(*EXACT_RUN, f"run_dir={interrupted}")
        run.wait_for_step(randomness.randint(min(stopped + 1, 8), 8))
        time.sleep(randomness.uniform(0.0, 1.0))
        run.process.kill()
        run.finish()
    status, output = TrainProcess(*EXACT_RUN, f"run_dir={interrupted}").finish()
    assert status == 0, output[-3000:]
    assert re.search(r"Resumed from .* at step \d+\.", output), output[-3000:]
    assert "Held-out WER" in output
    assert_same_weights(reference / "preset", interrupted / "preset")


def assert_same_weights(preset_a, preset_b):
    weights_a = read_weights(preset_a / "model.weights.h5")
    weights_b = read_weights(preset_b / "model.weights.h5")
    assert weights_a.keys() == weights_b.keys() and weights_a
    for name, value in weights_a.items():
        np.testing.assert_array_equal(value, weights_b[name], err_msg=name)


def read_weights(path):
    weights = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                weights.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
            )
        )
    return weights


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_without_a_checkpoint(tmp_path):
    # Steps of a few seconds (no XLA, a model of 30 s windows): the second
    # Ctrl-C must not wait for the step in progress.
    run = TrainProcess(
        "debug=fast",
        "trainer.steps=50",
        "trainer.checkpoint_every_steps=1000",
        "data.clip_length_windows=false",
        f"run_dir={tmp_path}",
    )
    run.wait_for_step(1)
    run.process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    run.process.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    status, output = run.finish(timeout=60)
    assert time.monotonic() - interrupted_at < 5, output[-3000:]
    assert status == INTERRUPTED_STATUS, output[-3000:]
    assert "Second Ctrl-C: stopped at once, without a checkpoint." in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").iterdir())


@pytest.mark.slow
def test_ctrl_c_before_training_starts_ends_in_one_line(tmp_path):
    run = TrainProcess("debug=fast", f"run_dir={tmp_path}")
    deadline = time.monotonic() + 120
    while not any("Run directory:" in line for line in list(run.lines)):
        assert run.process.poll() is None and time.monotonic() < deadline, run.lines[-20:]
        time.sleep(0.05)
    run.process.send_signal(signal.SIGINT)
    status, output = run.finish(timeout=120)
    assert status == INTERRUPTED_STATUS, output[-3000:]
    assert "Stopped by Ctrl-C (SIGINT) before step 1: nothing new to save." in output
    assert "Traceback" not in output
