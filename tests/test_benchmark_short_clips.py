"""`python -m benchmarks.short_clips` runs as the docs show it, at a tiny size.

Not a timed test: its packed mode (the one with more than one utterance to
a window) trains a small random model without XLA for a few seconds through
`python -m train`, and the test checks the table and the JSON: the mode
trained for the steps its measured step time fills the budget with, packed
windows hold several utterances, and the ratios and WERs follow from the
figures beside them. The other modes differ only in the overrides they pass.
"""

import json

import pytest
from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark

[DOCS_ARGUMENTS] = docs_benchmark_lines("benchmarks.short_clips")
BUDGET_SECONDS = 3.0
BATCH_SIZE = 2


@pytest.mark.slow
def test_short_clips_trains_the_packed_mode_for_the_budget_and_scores_it(tmp_path):
    output = tmp_path / "short_clips.json"
    completed = run_benchmark(
        "benchmarks.short_clips",
        DOCS_ARGUMENTS,
        *("--modes", "packed", "--budget-seconds", str(BUDGET_SECONDS)),
        *("--batch-size", str(BATCH_SIZE), "--calibration-steps", "2", "--eval-examples", "2"),
        *("--train-overrides", "model=tiny_random", "trainer.jit_compile=false"),
        output=output,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith(f"Short clips, {BUDGET_SECONDS:g} s of training each")
    document = json.loads(output.read_text())
    assert document["command"].startswith("python -m benchmarks.short_clips")
    results = document["results"]
    assert 0 <= results["pretrained_wer"] < 1
    assert list(results["modes"]) == ["packed"]
    packed = results["modes"]["packed"]
    assert packed["steps"] == max(1, round(BUDGET_SECONDS / packed["step_seconds"]))
    assert packed["utterances_per_second"] == pytest.approx(
        BATCH_SIZE / packed["step_seconds"] * packed["utterances_per_window"]
    )
    assert packed["held_out_wer"] >= 0
    # The synthetic clips last 1 to 4.3 s: several fill a 30 s window.
    assert packed["utterances_per_window"] > 3
