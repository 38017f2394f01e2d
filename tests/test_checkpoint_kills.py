"""SIGKILL mid-write: the previous checkpoint, best/ and preset/ always load.

tests/checkpoint_writer.py writes a checkpoint, the best model and a preset
for step after step, every variable holding values of its step; this test
kills it at random moments inside those writes, checks what it left, and
restarts it, which must resume from the latest checkpoint.
"""

import collections
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import checkpoint_writer as writer
import numpy as np
import pytest

from train.checkpoints import BACKUP_SUFFIX
from train.checkpoints import CHECKPOINTS_DIR as CHECKPOINTS
from train.checkpoints import STEP_DIR_PATTERN
from train.checkpoints import CheckpointManager
from whisper import WhisperAudioToText

KILLS = 20
SEED = 8
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoint_writer.py")
# Each write, and the line the writer prints just before it starts.
WRITES = {"checkpoint": "values", "best": "checkpoint", "preset": "best"}
PRESET_NAMES = ("best", "best.replaced", "preset", "preset.replaced")
LINE_TIMEOUT_S = 60


class Writers:
    """checkpoint_writer.py's process, which forks a writer on each `start`;
    the lines of the writers and its own, timed as they come."""

    def __init__(self, run_dir, stderr_path):
        self.stderr_path = stderr_path
        with open(stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, SCRIPT, str(run_dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
        self.lines = queue.Queue()
        self.started = {}  # event -> when its line came
        self.durations = collections.defaultdict(list)  # write -> seconds
        self.pid = None  # the writer's, while it runs
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self.process.stdout:
                event, number = line.split()
                self.lines.put((time.monotonic(), event, int(number)))
        finally:
            self.lines.put(None)

    def _fail(self, message):
        with open(self.stderr_path) as stderr:
            pytest.fail(f"{message}; its stderr ends:\n{stderr.read()[-3000:]}")

    def wait_for(self, wanted):
        """Reads lines up to the next `wanted` one; returns its number."""
        while True:
            try:
                item = self.lines.get(timeout=LINE_TIMEOUT_S)
            except queue.Empty:
                self._fail(f"the writer printed nothing for {LINE_TIMEOUT_S} s")
            if item is None:
                self._fail(f"checkpoint_writer.py exited before '{wanted}'")
            arrived, event, number = item
            if event == "exited":
                self.pid = None
                if wanted != "exited":
                    self._fail(f"the writer exited with {number} before '{wanted}'")
            if event not in ("started", "exited"):
                self.printed.append((event, number))
            for write, start in WRITES.items():
                if event == write and start in self.started:
                    self.durations[write].append(arrived - self.started[start])
            self.started[event] = arrived
            if event == wanted:
                return number

    def start(self):
        """Forks a writer, which resumes from the latest checkpoint."""
        self.printed = []  # (event, step), as this writer printed them
        self.started.clear()
        self.process.stdin.write("start\n")
        self.process.stdin.flush()
        self.pid = self.wait_for("started")

    def duration(self, write):
        """How long `write` took lately, in seconds."""
        return float(np.median(self.durations[write][-5:]))

    def kill(self):
        """SIGKILLs the writer; returns every line it printed, the last ones
        included (they are all read once the fork's parent has reaped it)."""
        os.kill(self.pid, signal.SIGKILL)
        assert self.wait_for("exited") == -signal.SIGKILL
        return self.printed

    def close(self):
        """Kills the writer if it runs, and ends checkpoint_writer.py."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.stdin.close()  # Its end: it exits once the writer is reaped.
        try:
            self.process.wait(timeout=LINE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def kill_mid_write(writers, write, rng):
    """Kills the writer a random fraction of the way into `write`."""
    writers.wait_for("preset")  # One whole round: durations measured.
    writers.wait_for(WRITES[write])
    time.sleep(rng.uniform(0.0, writers.duration(write)))
    return writers.kill()


def landed_in(printed):
    """The write a kill struck, from the writer's last line; None between writes."""
    last_event = printed[-1][0]
    return {start: write for write, start in WRITES.items()}.get(last_event)


def last_step(printed, event):
    return max(step for name, step in printed if name == event)


def restore(run_dir, model, optimizer):
    """restore_latest into variables first set to step 0, which no writer
    writes; returns its state and the step the variables then hold."""
    variables = writer.all_variables(model, optimizer)
    writer.set_step(variables, 0)
    state = CheckpointManager(run_dir, model, optimizer, keep=writer.KEEP).restore_latest()
    return state, writer.step_held(variables)


def preset_step(path, model, optimizer):
    """The step whose weights the preset at `path` holds, checked weight by weight."""
    loaded = WhisperAudioToText.from_preset(path).backbone.trainable_variables
    step = int(np.asarray(loaded[0]).flat[0]) // writer.STRIDE
    writer.set_step(writer.all_variables(model, optimizer), step)
    for ours, theirs in zip(model.backbone.trainable_variables, loaded, strict=True):
        np.testing.assert_array_equal(np.asarray(theirs), np.asarray(ours))
    return step


def check_checkpoints(run_dir, scratch, model, optimizer):
    """Every checkpoint under a final name restores alone to its own step's values."""
    checkpoint_dir = os.path.join(run_dir, CHECKPOINTS)
    steps = []
    for name in sorted(os.listdir(checkpoint_dir)):
        if name.startswith("."):
            continue  # staging or being deleted
        match = STEP_DIR_PATTERN.match(name)
        assert match, f"checkpoints/{name} is not a checkpoint's name"
        alone = os.path.join(scratch, name)  # a run directory of this checkpoint only
        shutil.copytree(os.path.join(checkpoint_dir, name), os.path.join(alone, CHECKPOINTS, name))
        state, held = restore(alone, model, optimizer)
        assert state.step == held == int(match.group(1)), name
        steps.append(state.step)
    return steps


def check_run_dir(run_dir, printed, scratch, model, optimizer):
    """What a kill left: the checks of this file. Returns the step to resume at."""
    visible = sorted(name for name in os.listdir(run_dir) if not name.startswith("."))
    assert set(visible) <= {CHECKPOINTS, *PRESET_NAMES}, visible
    struck = landed_in(printed)

    # The latest checkpoint is the last one the writer finished, or the one
    # it was writing if the kill came after its rename.
    state, held = restore(run_dir, model, optimizer)
    finished = last_step(printed, "checkpoint")
    assert state.step == held
    assert state.step in ({finished, finished + 1} if struck == "checkpoint" else {finished})
    assert max(check_checkpoints(run_dir, scratch, model, optimizer)) == state.step

    for name in ("best", "preset"):
        # What readers take: the directory, or the backup that a kill between
        # the two renames of a replacement leaves in its place.
        published = name if name in visible else f"{name}.replaced"
        assert published in visible, f"neither {name}/ nor its backup"
        finished = last_step(printed, name)
        step = check_preset(os.path.join(run_dir, published), model, optimizer)
        assert step in ({finished, finished + 1} if struck == name else {finished})
        assert step <= state.step
        if published == name and f"{name}.replaced" in visible:  # not yet deleted
            backup = check_preset(os.path.join(run_dir, f"{name}.replaced"), model, optimizer)
            assert backup < step
    return state.step


def check_preset(path, model, optimizer):
    """The step of a whole preset, and of best.json where there is one."""
    step = preset_step(path, model, optimizer)
    if os.path.basename(path).startswith("best"):
        with open(os.path.join(path, "best.json")) as file:
            assert json.load(file) == {"wer": 1.0 / step, "step": step}
    return step


def leftovers(run_dir):
    """What a kill left mid-write: staging directories, by write, and backups."""
    found = collections.Counter()
    for name in os.listdir(os.path.join(run_dir, CHECKPOINTS)):
        if ".staging-" in name:
            found["checkpoint staging"] += 1
    for name in os.listdir(run_dir):
        if ".staging-" in name:
            found[f"{name.split('.')[1]} staging"] += 1  # .best.staging-1234abcd
        elif name.endswith(BACKUP_SUFFIX):
            found[name] += 1
    return found


@pytest.mark.slow
def test_kills_mid_write_never_lose_the_previous_checkpoint(tmp_path):
    rng = random.Random(SEED)
    run_dir = tmp_path / "run"
    model, optimizer = writer.make_task()
    struck = collections.Counter()
    left = collections.Counter()
    resume_at = 0
    writers = Writers(run_dir, tmp_path / "writers.err")
    try:
        writers.start()
        for kill in range(1, KILLS + 1):
            assert writers.wait_for("resumed") == resume_at
            printed = kill_mid_write(writers, list(WRITES)[kill % len(WRITES)], rng)
            snapshot = tmp_path / f"after-kill-{kill}"
            shutil.copytree(run_dir, snapshot)
            # The next writer starts while this process checks what the kill left.
            writers.start()
            struck[landed_in(printed)] += 1
            left += leftovers(snapshot)
            scratch = tmp_path / f"alone-{kill}"
            resume_at = check_run_dir(snapshot, printed, scratch, model, optimizer)
        assert writers.wait_for("resumed") == resume_at
        writers.wait_for("preset")
    finally:
        writers.close()

    print(f"kills by write (None: between writes): {dict(struck)}; left: {dict(left)}")
    # Most kills struck inside a write, and some inside each: a write that
    # took less time than lately lets a kill land in the next one.
    assert sum(struck[write] for write in WRITES) >= KILLS // 2, struck
    assert all(struck[write] for write in WRITES), struck


def test_a_kill_before_the_backup_is_deleted_restores_the_new_write(tmp_path):
    # Saving a step again publishes the new write, then deletes the old one,
    # which waits under the backup name in between.
    model, optimizer = writer.make_task()
    variables = writer.all_variables(model, optimizer)
    manager = CheckpointManager(tmp_path, model, optimizer)
    writer.set_step(variables, 7)
    path = manager.save(7, data_position=1, extra={"write": "old"})
    shutil.copytree(path, tmp_path / "old")
    manager.save(7, data_position=2, extra={"write": "new"})
    os.rename(tmp_path / "old", path + ".replaced")  # as a kill then leaves it

    state, held = restore(tmp_path, model, optimizer)

    assert (state.path, state.data_position, state.extra) == (path, 2, {"write": "new"})
    assert held == 7
    assert manager.checkpoints() == [path]
