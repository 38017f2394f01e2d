"""`python -m benchmarks.scaling` runs as the docs show it, at a tiny size.

Not a timed test: it checks the table and the JSON's structure and
consistency, that the bytes all-reduced per step are those of the model's
trainable parameters and the Trainer's scalars, as the workers' compiled
steps carry them, and that the cluster estimate follows from its stated
figures.
"""

import json
import math
import os

import pytest
from benchmark_cli import TINY_ARCHITECTURE as TINY
from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark

from benchmarks.train_step import architecture
from benchmarks.whisper_flops import training_flop_per_example
from whisper.whisper_presets import backbone_presets

[DOCS_ARGUMENTS] = docs_benchmark_lines("benchmarks.scaling")
BATCH_PER_WORKER = 2
ESTIMATED_PRESET = "whisper_tiny_en"


def trainable_parameters(config):
    from whisper import WhisperAudioToText
    from whisper import WhisperBackbone

    model = WhisperAudioToText(WhisperBackbone(**config))
    return sum(math.prod(variable.shape) for variable in model.trainable_variables)


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    output = tmp_path_factory.mktemp("scaling") / "scaling.json"
    completed = run_benchmark(
        "benchmarks.scaling",
        DOCS_ARGUMENTS,
        "--architecture",
        json.dumps(TINY),
        "--batch-size",
        str(BATCH_PER_WORKER),
        "--target-tokens",
        "8",
        "--steps",
        "2",
        "--warmup-steps",
        "1",
        "--estimate-presets",
        ESTIMATED_PRESET,
        output=output,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stderr == ""
    lines = completed.stdout.splitlines()
    assert lines[0] == (
        f"Scaling, MultiWorkerMirroredStrategy on this host ({os.cpu_count()} logical cores, "
        f"{max(1, os.cpu_count() // 2)} thread(s) per worker; the workers share them):"
    )
    assert lines[1].split() == [
        "workers", "batch/worker", "global", "batch", "s/step", "examples/s", "speedup",
        "efficiency", "all-reduced", "MiB",
    ]  # fmt: skip
    assert any(line.startswith("Estimate: ring all-reduce") for line in lines)
    return json.loads(output.read_text())


@pytest.mark.slow
def test_one_and_two_workers_are_measured_with_the_same_batch_per_worker(document):
    assert document["benchmark"] == "benchmarks.scaling"
    assert document["settings"]["architecture"] == TINY
    results = document["results"]
    assert results["batch_per_worker"] == BATCH_PER_WORKER
    workers = results["workers"]
    assert set(workers) == {"1", "2"}
    for count, summary in workers.items():
        assert summary["global_batch"] == int(count) * BATCH_PER_WORKER
        assert summary["examples_per_second"] == (
            summary["global_batch"] / summary["seconds_per_step"]
        )
        assert summary["speedup_over_one_worker"] == (
            summary["examples_per_second"] / workers["1"]["examples_per_second"]
        )
        assert summary["scaling_efficiency"] == summary["speedup_over_one_worker"] / int(count)
    extra = results["communication"]["extra_seconds_per_step_with_2_workers"]
    assert extra == workers["2"]["seconds_per_step"] - workers["1"]["seconds_per_step"]


@pytest.mark.slow
def test_the_bytes_all_reduced_are_the_gradients_and_three_scalars(document):
    config = architecture({"preset": "whisper_tiny_en", "architecture": TINY})
    parameters = trainable_parameters(config)
    workers = document["results"]["workers"]
    expected = 4 * parameters + 3 * 4
    assert workers["2"]["trainable_parameters"] == parameters
    assert workers["2"]["bytes_all_reduced_per_step"] == expected
    # What each worker's compiled step hands its collective operations.
    assert workers["2"]["collective_bytes_in_compiled_step"] == [expected, expected]
    # One worker alone all-reduces nothing.
    assert workers["1"]["bytes_all_reduced_per_step"] == 0
    assert workers["1"]["collective_bytes_in_compiled_step"] == [0]
    assert document["results"]["communication"]["bytes_all_reduced_per_step"] == expected


@pytest.mark.slow
def test_the_cluster_estimate_follows_from_its_stated_figures(document):
    estimate = document["results"]["estimate"]
    model = estimate["presets"][ESTIMATED_PRESET]
    config = backbone_presets[ESTIMATED_PRESET]["config"]
    assert model["trainable_parameters"] == trainable_parameters(config)
    gradient_bytes = 4 * model["trainable_parameters"] + 3 * 4
    assert model["bytes_all_reduced_per_step"] == gradient_bytes
    flop_per_example = training_flop_per_example(config, target_tokens=estimate["target_tokens"])
    assert model["flop_per_example"] == flop_per_example
    assert (
        set(model["clusters"])
        == set(estimate["clusters"])
        == {
            "8 x H100 SXM, NVLink",
            "TPU v4-32 (16 chips)",
        }
    )
    for name, cluster in model["clusters"].items():
        figures = estimate["clusters"][name]
        assert figures["source"]
        devices = figures["devices"]
        all_reduce = 2 * (devices - 1) / devices * gradient_bytes / figures["send_bytes_per_second"]
        per_example = flop_per_example / (
            estimate["share_of_peak"] * figures["peak_flop_per_second"]
        )
        compute = estimate["batch_per_device"] * per_example
        assert cluster["all_reduce_seconds"] == pytest.approx(all_reduce)
        assert cluster["compute_seconds"] == pytest.approx(compute)
        assert cluster["all_reduce_over_compute"] == pytest.approx(all_reduce / compute)
        assert cluster["smallest_batch_per_device_that_hides_it"] == math.ceil(
            all_reduce / per_example
        )
    h100 = estimate["clusters"]["8 x H100 SXM, NVLink"]
    assert (h100["devices"], h100["peak_flop_per_second"], h100["send_bytes_per_second"]) == (
        8,
        989e12,
        450e9,
    )
    tpu = estimate["clusters"]["TPU v4-32 (16 chips)"]
    assert (tpu["devices"], tpu["peak_flop_per_second"]) == (16, 275e12)
