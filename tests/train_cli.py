"""Runs `python -m train` as a user would: a real process, from the command line."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Printed once the model is built (train.model.describe).
MODEL_BUILT = " parameters, "


def train_command(*overrides):
    return [sys.executable, "-m", "train", *overrides]


def train_environment(**variables):
    """This environment, offline, without a cluster, plus `variables`."""
    env = {**os.environ, "WHISPER_KERAS_OFFLINE": "1", "WANDB_MODE": "offline", **variables}
    if "TF_CONFIG" not in variables:
        env.pop("TF_CONFIG", None)
    return env


def run_train(*overrides, cwd=ROOT, timeout=900, **variables):
    """Runs `python -m train overrides...` to the end; returns the CompletedProcess."""
    return run_module("train", *overrides, cwd=cwd, timeout=timeout, **variables)


def run_module(module, *arguments, cwd=ROOT, timeout=900, **variables):
    """Runs `python -m module arguments...` to the end in `train_environment`
    (the project importable from any `cwd`); returns the CompletedProcess."""
    env = train_environment(**variables)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def assert_trained(completed, run_dir):
    """The run finished, evaluated, checkpointed and exported its preset."""
    output = completed.stdout[-3000:] + completed.stderr[-3000:]
    assert completed.returncode == 0, output
    assert "Held-out WER" in completed.stdout, output
    assert "Traceback" not in completed.stderr, output
    assert (pathlib.Path(run_dir) / "preset" / "config.json").exists()
    assert list((pathlib.Path(run_dir) / "checkpoints").glob("step-*"))
    # Console lines of training steps end with the ETA the step time gives.
    train_lines = [line for line in completed.stdout.splitlines() if " | loss " in line]
    assert train_lines and all(" s/step | eta " in line for line in train_lines), output
