"""Training checkpoints that survive crashes, the best model, and export.

A run directory holds:

    run_dir/
      checkpoints/
        step-000001000/                  one complete checkpoint
          variables.index                tf.train.Checkpoint of the variables
          variables.data-00000-of-00001
          state.json                     step, data position, extra, file sizes
        step-000002000/
        .step-000003000.staging-<id>/    being written (or left by a crash)
      best/                              a preset of the lowest-WER weights,
        config.json ... best.json        with its WER and step

What a checkpoint holds:
- every variable of the model: weights, and the states of the Keras
  SeedGenerators of its dropout layers, so dropout continues with the masks
  it would have drawn;
- every variable of the optimizer: iteration count (which drives the learning
  rate schedule), learning rate, moments, loss scale;
- any `trackables` the trainer adds (a `tf.random.Generator`, a `tf.data`
  iterator);
- the step, the data position (batches consumed) and a JSON-able `extra` dict.
NumPy's and Python's global random states are not saved: under several
workers each has its own and only the chief writes. Training randomness must
come from the above or from the seed and the data position.

Every directory is written under a hidden staging name next to its final name,
flushed to disk (fsync), then renamed into place, so a crash at any point
leaves the previous checkpoint intact and never shows a partial one under a
final name. Old checkpoints are deleted only after the new one is in place.
The run directory must be on a POSIX filesystem (local disk or a network
mount shared by all workers); renames on object stores such as GCS are not
atomic.
"""

import dataclasses
import logging
import math
import os
import re
import shutil
import tempfile
import uuid

import tensorflow as tf

from train.fine_tuning import trained_variables
from whisper.utils.json_io import read_json
from whisper.utils.json_io import write_json

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
VARIABLES_PREFIX = "variables"
STATE_FILE = "state.json"
BEST_FILE = "best.json"
# A published directory is moved here while its replacement is renamed into
# place; readers fall back to it if a crash struck between the two renames.
BACKUP_SUFFIX = ".replaced"
STEP_DIR_PATTERN = re.compile(r"^step-(\d+)(\.replaced)?$")


class CorruptCheckpointError(OSError):
    """A checkpoint that is incomplete or damaged on disk."""


class CheckpointMismatchError(ValueError):
    """A checkpoint written for a different model or optimizer."""


@dataclasses.dataclass(frozen=True)
class CheckpointState:
    """What `restore_latest` restored besides the variables."""

    step: int
    data_position: int
    extra: dict
    path: str


class CheckpointManager:
    """Periodic checkpoints of a training run, and its best model by WER.

    Args:
        run_dir: the run's directory; checkpoints go to `run_dir/checkpoints`
            and the best model to `run_dir/best`.
        model: the `WhisperAudioToText` being trained (built).
        optimizer: its Keras optimizer. Built here on the model's trainable
            variables if it is not yet, so under a `tf.distribute` strategy
            call `save` and `restore_latest` inside `strategy.scope()`.
        keep: how many periodic checkpoints to keep, newest first.
        is_chief: whether this process writes. Call `save` on every worker
            all the same (see `save`).
        trackables: name -> more objects to checkpoint, such as a
            `tf.random.Generator` or a `tf.data` iterator.

    Example:

    ```python
    from train.checkpoints import CheckpointManager
    from train.optimizer import WarmupDecaySchedule, build_optimizer
    from whisper import WhisperAudioToText, WhisperBackbone

    backbone = WhisperBackbone(
        vocabulary_size=64, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_encoder_sequence_length=20,
        max_decoder_sequence_length=8,
    )
    model = WhisperAudioToText(backbone)
    optimizer = build_optimizer(model, WarmupDecaySchedule(1e-3, 10, 100))
    manager = CheckpointManager("run", model, optimizer, keep=3)
    assert manager.restore_latest() is None  # A new run starts at step 0.
    manager.save(100, data_position=100)
    assert manager.restore_latest().step == 100  # A restarted run resumes.
    if manager.save_best(0.25, step=100):
        print(f"New best WER {manager.best_wer:.2%}")  # run/best/ is its preset.
    ```
    """

    def __init__(self, run_dir, model, optimizer, *, keep=3, is_chief=True, trackables=None):
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}.")
        self.run_dir = os.fspath(run_dir)
        self.checkpoint_dir = os.path.join(self.run_dir, CHECKPOINTS_DIR)
        self.best_dir = os.path.join(self.run_dir, BEST_DIR)
        self.model = model
        self.optimizer = optimizer
        self.keep = keep
        self.is_chief = is_chief
        self.trackables = dict(trackables or {})
        self._best_wer = None

    # Periodic checkpoints ---------------------------------------------------

    def save(self, step, data_position, extra=None):
        """Writes a checkpoint for `step`; returns its directory (None off-chief).

        Every worker must call this: under MultiWorkerMirroredStrategy writing
        variables can need collective reads, so the other workers write to a
        scratch directory they delete, as TensorFlow documents. A checkpoint
        already saved for `step` is replaced.

        Args:
            step: training steps taken.
            data_position: global batches of training data consumed, which a
                resumed run skips.
            extra: a JSON-serializable dict returned by `restore_latest`.
        """
        checkpoint = self._tf_checkpoint()
        if not self.is_chief:
            with tempfile.TemporaryDirectory() as scratch:
                checkpoint.write(os.path.join(scratch, VARIABLES_PREFIX))
            return None
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        _remove_leftovers(self.checkpoint_dir, ".step-")
        final = os.path.join(self.checkpoint_dir, f"step-{step:09d}")
        staging = _staging_path(final)
        checkpoint.write(os.path.join(staging, VARIABLES_PREFIX))
        state = {
            "step": int(step),
            "data_position": int(data_position),
            "extra": extra or {},
            "files": {name: _size(staging, name) for name in os.listdir(staging)},
            "variable_shapes": self._variable_shapes(),
        }
        write_json(os.path.join(staging, STATE_FILE), state)
        _publish(staging, final)
        self._delete_old_checkpoints()
        logger.info("Saved checkpoint %s", final)
        return final

    def checkpoints(self):
        """Directories of the checkpoints on disk, oldest first."""
        if not os.path.isdir(self.checkpoint_dir):
            return []
        by_step = {}
        # A backup only stands in for a step whose directory is missing: the
        # directory's name sorts first, being the start of its backup's.
        for name in sorted(os.listdir(self.checkpoint_dir)):
            match = STEP_DIR_PATTERN.match(name)
            if match:
                step = int(match.group(1))
                by_step.setdefault(step, os.path.join(self.checkpoint_dir, name))
        return [by_step[step] for step in sorted(by_step)]

    def restore_latest(self):
        """Restores the newest readable checkpoint; None when there is none.

        A damaged checkpoint is skipped with a warning for the one before it.

        Raises:
            CheckpointMismatchError: the checkpoint's variables have other
                shapes than the model's or the optimizer's.
            CorruptCheckpointError: checkpoints exist but none is readable.
        """
        failures = []
        for path in reversed(self.checkpoints()):
            try:
                return self._restore(path)
            except CheckpointMismatchError:
                raise
            except Exception as error:  # TF reports damage with many types.
                logger.warning(
                    "Checkpoint %s cannot be restored (%s: %s); trying the one before it.",
                    path,
                    type(error).__name__,
                    error,
                )
                failures.append(f"{path}: {type(error).__name__}: {error}")
        if failures:
            raise CorruptCheckpointError("No checkpoint could be restored:\n" + "\n".join(failures))
        return None

    def _restore(self, path):
        checkpoint = self._tf_checkpoint()  # Builds the optimizer's variables.
        state = _read_state(path)
        self._check_shapes(state["variable_shapes"], path)
        checkpoint.read(os.path.join(path, VARIABLES_PREFIX)).assert_consumed()
        logger.info("Restored checkpoint %s", path)
        return CheckpointState(
            step=state["step"],
            data_position=state["data_position"],
            extra=state["extra"],
            path=path,
        )

    def _tf_checkpoint(self):
        if not self.optimizer.built:
            self.optimizer.build(trained_variables(self.model))
        # Lists of variables rather than the objects: Keras's `variables`
        # include the SeedGenerator states, which object tracking misses.
        return tf.train.Checkpoint(
            model=list(self.model.variables),
            optimizer=list(self.optimizer.variables),
            trackables=self.trackables,
        )

    def _variable_shapes(self):
        return {
            "model": [list(v.shape) for v in self.model.variables],
            "optimizer": [list(v.shape) for v in self.optimizer.variables],
        }

    def _check_shapes(self, saved, path):
        current = self._variable_shapes()
        for owner in ("model", "optimizer"):
            if saved[owner] != current[owner]:
                raise CheckpointMismatchError(
                    f"Checkpoint {path} holds {len(saved[owner])} {owner} "
                    f"variables of other shapes than this {owner}'s "
                    f"{len(current[owner])}: it was written for another "
                    f"configuration. Use a new run directory, or the "
                    f"configuration the run started with."
                )

    def _delete_old_checkpoints(self):
        for path in self.checkpoints()[: -self.keep]:
            _delete(path)

    # Best model -------------------------------------------------------------

    @property
    def best_wer(self):
        """The WER of `run_dir/best`, or None before the first `save_best`."""
        if self._best_wer is None:
            best = _published(self.best_dir)
            if best is not None:
                self._best_wer = read_json(os.path.join(best, BEST_FILE))["wer"]
        return self._best_wer

    def save_best(self, wer, step):
        """Exports the model to `run_dir/best` if `wer` beats the best so far.

        Returns whether it did. Off-chief, does nothing and returns False.
        """
        if not math.isfinite(wer):
            raise ValueError(f"wer must be a finite number, got {wer}.")
        if not self.is_chief:
            return False
        if self.best_wer is not None and wer >= self.best_wer:
            return False
        record = {"wer": float(wer), "step": int(step)}
        _write_preset(self.model, self.best_dir, {BEST_FILE: record})
        self._best_wer = wer
        logger.info("New best WER %.4f at step %d: %s", wer, step, self.best_dir)
        return True


def export_preset(model, preset_dir):
    """Writes `model` as a preset directory, atomically; returns its path.

    `WhisperBackbone.from_preset` and `WhisperAudioToText.from_preset` load
    it. A preset already at `preset_dir` is replaced. Call on the chief only.

    Args:
        model: a `WhisperAudioToText`.
        preset_dir: where the preset goes.
    """
    return _write_preset(model, preset_dir, json_files={})


def _write_preset(model, preset_dir, json_files):
    """`export_preset`, adding `json_files` (file name -> data) to the preset."""
    preset_dir = os.path.abspath(os.fspath(preset_dir))
    parent, name = os.path.split(preset_dir)
    os.makedirs(parent, exist_ok=True)
    _remove_leftovers(parent, f".{name}.")
    staging = _staging_path(preset_dir)
    model.save_to_preset(staging)
    for file_name, data in json_files.items():
        write_json(os.path.join(staging, file_name), data)
    _publish(staging, preset_dir)
    return preset_dir


# Files ----------------------------------------------------------------------


def _staging_path(final):
    """A hidden sibling of `final` to write into before renaming."""
    parent, name = os.path.split(final)
    return os.path.join(parent, f".{name}.staging-{uuid.uuid4().hex[:8]}")


def _publish(staging, final):
    """Syncs the finished `staging` directory and renames it to `final`.

    A previous `final` is first moved to its backup name and deleted once the
    new one is in place; a crash between the two renames leaves the backup,
    which `_published` and `CheckpointManager.checkpoints` accept.
    """
    _fsync_tree(staging)
    backup = final + BACKUP_SUFFIX
    if os.path.exists(final):
        if os.path.exists(backup):
            _delete(backup)
        os.rename(final, backup)
    os.rename(staging, final)
    _fsync(os.path.dirname(final))
    if os.path.exists(backup):
        _delete(backup)


def _published(final):
    """`final`, or its backup if a crash struck mid-replacement; else None."""
    for path in (final, final + BACKUP_SUFFIX):
        if os.path.isdir(path):
            return path
    return None


def _delete(path):
    """Deletes a directory, hiding it first so a partial deletion is never
    mistaken for a checkpoint."""
    parent, name = os.path.split(path)
    hidden = os.path.join(parent, f".{name}.deleting-{uuid.uuid4().hex[:8]}")
    os.rename(path, hidden)
    shutil.rmtree(hidden)


def _remove_leftovers(parent, prefix):
    """Deletes hidden staging and deleting directories a crash left behind.

    Only the chief writes, one save at a time, so none is in use.
    """
    for name in os.listdir(parent):
        if name.startswith(prefix):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _fsync_tree(directory):
    for root, _, files in os.walk(directory):
        for name in files:
            _fsync(os.path.join(root, name))
        _fsync(root)


def _fsync(path):
    """Flushes a file, or a directory's entries (names created or renamed)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _size(directory, name):
    return os.path.getsize(os.path.join(directory, name))


def _read_state(path):
    """state.json of a checkpoint, after checking its files are whole."""
    state_path = os.path.join(path, STATE_FILE)
    state = read_json(state_path, error=CorruptCheckpointError)
    for name, size in state["files"].items():
        if not os.path.exists(os.path.join(path, name)):
            raise CorruptCheckpointError(f"{name} is missing")
        if _size(path, name) != size:
            raise CorruptCheckpointError(
                f"{name} has {_size(path, name)} bytes, {size} were written"
            )
    return state
