"""Each benchmark command runs as the README shows it, at a small size."""

import json
import subprocess
import sys

from train_cli import ROOT
from train_cli import train_environment


def test_resume_cost_measures_both_ways_of_resuming(tmp_path):
    output = tmp_path / "resume_cost.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.resume_cost",
            "--steps",
            "1000",
            "--replay-batches",
            "2",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=train_environment(),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("Resuming at step 1,000 (batch 16):")
    assert completed.stderr == ""
    results = json.loads(output.read_text())
    assert results["steps"] == 1000 and results["ours_resume_seconds"] > 0
    expected = results["replay_seconds_per_batch"] * 1000 / results["ours_resume_seconds"]
    assert results["speedup"] == expected
