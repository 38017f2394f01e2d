"""The commands the docs show are the ones CI and the tests run.

`.ci/run` runs the README's test command verbatim; each `python -m launch`
command the docs show runs here as a real process with `--dry-run` (the
engines' own tests run them for real: see docs/cluster.md).
"""

import shlex
import subprocess
import sys

import pytest
from doc_commands import DOCS
from doc_commands import docs_lines
from train_cli import ROOT
from train_cli import train_environment


def test_ci_runs_the_readmes_test_command_verbatim():
    [test_command] = [line for line in docs_lines() if line.endswith("python -m pytest")]
    assert test_command in DOCS["README.md"]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


LAUNCH_COMMANDS = [line for line in docs_lines() if line.startswith("python -m launch ")]


@pytest.mark.parametrize("line", LAUNCH_COMMANDS)
def test_each_documented_launch_command_runs_as_a_dry_run(line, tmp_path):
    arguments = shlex.split(line.partition("#")[0])[3:]
    engine, rest = arguments[0], arguments[1:]
    if "--dry-run" not in rest:
        rest = ["--dry-run", *rest]
    completed = subprocess.run(
        [sys.executable, "-m", "launch", engine, *rest],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=train_environment(),
    )
    assert completed.returncode == 0, completed.stderr
    assert "# would write " in completed.stdout and "nothing was written or run" in completed.stdout


def test_the_docs_show_every_engine():
    engines = {shlex.split(line)[3] for line in LAUNCH_COMMANDS}
    assert engines == {"local", "slurm", "k8s", "tpu-vm"}
