"""Runs `python -m launch` as a user would, and finds the workers it started."""

import os
import subprocess
import sys

from train_cli import ROOT
from train_cli import run_module
from train_cli import train_environment

# A short multi-worker run: a checkpoint every 2 steps, no evaluation until the end.
TINY_TRAIN = ("debug=fast", "tracker=console")


def launch_command(*arguments):
    return [sys.executable, "-m", "launch", *arguments]


def run_launch(*arguments, cwd=ROOT, timeout=900, **variables):
    """Runs `python -m launch arguments...` to the end; returns the CompletedProcess."""
    return run_module("launch", *arguments, cwd=cwd, timeout=timeout, **variables)


def start_launch(*arguments, stdout, **variables):
    """Starts `python -m launch arguments...`; output goes to the file `stdout`."""
    return subprocess.Popen(
        launch_command(*arguments),
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        env=train_environment(**variables),
    )


def worker_pids(launcher_pid):
    """{rank: pid} of the workers the local launcher `launcher_pid` started."""
    pids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rpartition(")")[2].split()[1])
            with open(f"/proc/{entry}/environ", "rb") as environ:
                variables = dict(
                    item.split(b"=", 1) for item in environ.read().split(b"\0") if b"=" in item
                )
        except OSError:
            continue
        if parent == launcher_pid and b"WHISPER_RANK" in variables:
            pids[int(variables[b"WHISPER_RANK"])] = int(entry)
    return pids
