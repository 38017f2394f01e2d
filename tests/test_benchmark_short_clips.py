"""`python -m benchmarks.short_clips` runs as the docs show it, at a tiny size.

Not a timed test: two of its modes train a small random model for a few
seconds each through `python -m train`, and the test checks the table and
the JSON: every mode trained for the steps its measured step time fills
the budget with, packed windows hold several utterances, and the ratios and
WERs follow from the figures beside them.
"""

import json

import pytest
from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark

[DOCS_ARGUMENTS] = docs_benchmark_lines("benchmarks.short_clips")
BUDGET_SECONDS = 3.0
BATCH_SIZE = 2


@pytest.mark.slow
def test_short_clips_trains_each_mode_for_the_budget_and_scores_it(tmp_path):
    output = tmp_path / "short_clips.json"
    completed = run_benchmark(
        "benchmarks.short_clips",
        DOCS_ARGUMENTS,
        *("--modes", "padded_30s", "packed", "--budget-seconds", str(BUDGET_SECONDS)),
        *("--batch-size", str(BATCH_SIZE), "--calibration-steps", "2", "--eval-examples", "2"),
        *("--train-overrides", "model=tiny_random"),
        output=output,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith(f"Short clips, {BUDGET_SECONDS:g} s of training each")
    document = json.loads(output.read_text())
    assert document["command"].startswith("python -m benchmarks.short_clips")
    results = document["results"]
    assert 0 <= results["pretrained_wer"] < 1
    modes = results["modes"]
    assert list(modes) == ["padded_30s", "packed"]
    for mode in modes.values():
        assert mode["steps"] == max(1, round(BUDGET_SECONDS / mode["step_seconds"]))
        assert mode["utterances_per_second"] == pytest.approx(
            BATCH_SIZE / mode["step_seconds"] * mode["utterances_per_window"]
        )
        assert mode["held_out_wer"] >= 0
    assert modes["padded_30s"]["utterances_per_window"] == 1
    # The synthetic clips last 2 to 7 s: several fill a 30 s window.
    assert modes["packed"]["utterances_per_window"] > 3
