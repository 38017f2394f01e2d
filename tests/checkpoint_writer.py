"""A training run that only writes, for test_checkpoint_kills.py to kill.

Imported by the test for its model and its step-numbered weights, and run as
a script that forks writers for the test to SIGKILL mid-write:

    python tests/checkpoint_writer.py RUN_DIR

reads lines from standard input; on each `start` it forks a writer, prints
`started PID`, and once the writer is gone, `exited CODE` (-9 when killed).
TensorFlow's import is most of a process's start, so it is done once, here;
nothing here runs TensorFlow, so each writer builds its runtime afresh
(TensorFlow is not fork-safe once it has run).

A writer restores RUN_DIR's latest checkpoint, if any, checks that it holds
the weights of its step and prints `resumed STEP`; then forever, for each
next step, sets every variable to `values_for(step)` (`values STEP`) and
writes, printing a line after each write: the checkpoint (`checkpoint
STEP`), the best model at WER 1/STEP, always a new best (`best STEP`), and
RUN_DIR/preset (`preset STEP`).
"""

import os
import sys
import traceback

# Runs as a script from anywhere: the repository root holds `train`, `whisper`.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from model_factory import tiny_backbone

from train.checkpoints import CheckpointManager  # noqa: E402
from train.checkpoints import export_preset  # noqa: E402
from whisper import WhisperAudioToText  # noqa: E402
from whisper import WhisperTokenizer  # noqa: E402

PRESET_DIR = "preset"
KEEP = 2
# Variable i holds STEP * STRIDE + i % STRIDE everywhere: exact in float32 for
# any step a test reaches, and different for every step and neighbouring
# variable, so a file of another step or a shuffled one cannot pass.
STRIDE = 64


def make_task():
    """vocabulary 64, one layer, hidden 16, dropout (so SeedGenerator states
    are saved too), and a 15-token tokenizer so `from_preset` loads a task."""
    backbone = tiny_backbone(
        64, seed=0, dropout=0.1, max_encoder_sequence_length=16, max_decoder_sequence_length=8
    )
    vocabulary = {"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "he": 5, "ll": 6, "hell": 7}
    merges = ["h e", "l l", "he ll"]
    special_tokens = {
        "<|endoftext|>": 10,
        "<|startoftranscript|>": 11,
        "<|translate|>": 12,
        "<|transcribe|>": 13,
        "<|notimestamps|>": 14,
    }
    tokenizer = WhisperTokenizer(vocabulary, merges, special_tokens)
    model = WhisperAudioToText(backbone, tokenizer=tokenizer)
    optimizer = keras.optimizers.AdamW(learning_rate=1e-3)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def all_variables(model, optimizer):
    """What a checkpoint holds, in a fixed order."""
    return list(model.variables) + list(optimizer.variables)


def values_for(variables, step):
    """The arrays each of `variables` holds at `step`."""
    return [np.full(v.shape, step * STRIDE + i % STRIDE, v.dtype) for i, v in enumerate(variables)]


def set_step(variables, step):
    for variable, value in zip(variables, values_for(variables, step)):
        variable.assign(value)


def step_held(variables):
    """The step whose values `variables` hold exactly; raises if none."""
    step = int(np.asarray(variables[0]).flat[0]) // STRIDE
    for i, (variable, value) in enumerate(zip(variables, values_for(variables, step))):
        if not np.array_equal(np.asarray(variable), value):
            raise AssertionError(f"variable {i} does not hold step {step}'s values")
    return step


def say(event, step):
    print(f"{event} {step}", flush=True)


def write(run_dir):
    """One writer's life: resume, then write step after step until killed."""
    model, optimizer = make_task()
    variables = all_variables(model, optimizer)
    set_step(variables, 0)  # No step writes 0, so a restore that does nothing shows.
    manager = CheckpointManager(run_dir, model, optimizer, keep=KEEP)
    state = manager.restore_latest()
    step = 0
    if state is not None:
        step = state.step
        if step_held(variables) != step:
            raise AssertionError(f"{state.path} holds the values of another step")
    say("resumed", step)
    while True:
        step += 1
        set_step(variables, step)
        say("values", step)
        manager.save(step, data_position=step)
        say("checkpoint", step)
        if not manager.save_best(1.0 / step, step=step):
            raise AssertionError(f"WER 1/{step} was not a new best")
        say("best", step)
        export_preset(model, os.path.join(run_dir, PRESET_DIR))
        say("preset", step)


def fork_writers(run_dir):
    for command in sys.stdin:
        if command.strip() != "start":
            raise ValueError(f"unknown command {command!r}")
        pid = os.fork()
        if pid == 0:  # The writer: it never returns into this loop.
            try:
                write(run_dir)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                os._exit(1)
        say("started", pid)
        _, status = os.waitpid(pid, 0)
        say("exited", os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    fork_writers(sys.argv[1])
