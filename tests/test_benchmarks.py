"""The docs' resume-cost and training-step benchmarks run, at a small size."""

import json

import pytest
from benchmark_cli import TINY_ARCHITECTURE
from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark


def test_resume_cost_measures_both_ways_of_resuming(tmp_path):
    output = tmp_path / "resume_cost.json"
    [arguments] = docs_benchmark_lines("benchmarks.resume_cost")
    completed = run_benchmark(
        "benchmarks.resume_cost",
        arguments,
        *("--steps", "1000", "--replay-batches", "2"),
        output=output,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("Resuming at step 1,000 (batch 16):")
    assert completed.stderr == ""
    results = json.loads(output.read_text())["results"]
    assert results["steps"] == 1000 and results["ours_resume_seconds"] > 0
    expected = results["replay_seconds_per_batch"] * 1000 / results["ours_resume_seconds"]
    assert results["speedup"] == expected


TRAIN_STEP_LINES = docs_benchmark_lines("benchmarks.train_step")
# The docs' first line runs every side; the others change only the sizes,
# which the tiny options below override, so two sides prove they parse and run.
TRAIN_STEP_SIDES = [
    ["ours", "ours-remat-attention", "ours-remat-layers", "keras_hub"],
    *[["ours", "keras_hub"]] * (len(TRAIN_STEP_LINES) - 1),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "arguments, expected_sides", zip(TRAIN_STEP_LINES, TRAIN_STEP_SIDES), ids=str
)
def test_train_step_compares_every_side_with_keras_hub(tmp_path, arguments, expected_sides):
    output = tmp_path / "train_step.json"
    sides_option = () if expected_sides == TRAIN_STEP_SIDES[0] else ("--sides", *expected_sides)
    completed = run_benchmark(
        "benchmarks.train_step",
        arguments,
        *("--precisions", "float32", "--rounds", "1", "--steps", "1", "--warmup-steps", "1"),
        *("--batch-size", "2", "--architecture", json.dumps(TINY_ARCHITECTURE)),
        *sides_option,
        output=output,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("Training step, float32 (matmul ")
    document = json.loads(output.read_text())
    assert document["command"].startswith("python -m benchmarks.train_step")
    assert document["machine"]["logical_cores"] >= 1
    comparison = document["results"]["float32"]
    sides = comparison["sides"]
    assert list(sides) == expected_sides
    assert sides["keras_hub"]["speedup_over_keras_hub"] == 1.0
    for side in sides.values():
        assert side["examples_per_second"] == pytest.approx(2 / side["seconds_per_step"])
        share = side["flop_per_second"] / comparison["matmul_flop_per_second"]
        assert side["share_of_matmul_rate"] == pytest.approx(share)
        assert side["peak_memory_bytes"] > side["step_memory_bytes"] > 0
