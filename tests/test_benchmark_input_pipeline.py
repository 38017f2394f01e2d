"""`python -m benchmarks.input_pipeline` runs as the docs show it, at a tiny size.

Not a timed test: it checks the tables and the JSON's structure and
internal consistency: positive stage costs, the ratio as the quotient of
the two speeds, and a projection that follows from the stage costs and the
FLOP counts.
"""

import json
import math

import pytest
from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark

from benchmarks import input_pipeline
from benchmarks.whisper_flops import training_flop_per_example
from whisper.whisper_presets import backbone_presets

# A step this small compiles and runs in seconds; the pipeline's 30 s
# features still fit its encoder, and its decoder the longest transcripts.
# Small, but taking the pipeline's 30 s features and full-length targets.
STEP_ARCHITECTURE = {
    "num_layers": 1,
    "num_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 32,
    "max_decoder_sequence_length": 448,
}
SETTINGS = {
    "clips": 3,
    "batch_size": 2,
    "batches": 2,
    "passes": 1,
    "steps": 1,
    "architecture": STEP_ARCHITECTURE,
}
STAGES = {*input_pipeline.HOST_STAGES, *input_pipeline.OPTIONAL_STAGES, "tokenize"}
COST_KEYS = {
    "all_cores_seconds_per_example",
    "single_core_seconds_per_example",
    "cpu_seconds_per_example",
}

[DOCS_ARGUMENTS] = docs_benchmark_lines("benchmarks.input_pipeline")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    output = tmp_path_factory.mktemp("input_pipeline") / "input_pipeline.json"
    completed = run_benchmark(
        "benchmarks.input_pipeline",
        DOCS_ARGUMENTS,
        "--clips",
        str(SETTINGS["clips"]),
        "--batch-size",
        str(SETTINGS["batch_size"]),
        "--batches",
        str(SETTINGS["batches"]),
        "--passes",
        str(SETTINGS["passes"]),
        "--steps",
        str(SETTINGS["steps"]),
        "--architecture",
        json.dumps(STEP_ARCHITECTURE),
        output=output,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed, json.loads(output.read_text())


@pytest.mark.slow
def test_the_benchmark_prints_its_tables(run):
    completed, _ = run
    assert completed.stdout.startswith("Input pipeline, 3 WAV clips at 22050 Hz")
    assert "pipeline / training step: " in completed.stdout
    assert "Stage costs, each stage alone (ms per example):" in completed.stdout
    assert "Feeding one H100 at 40 % of peak:" in completed.stdout
    assert completed.stderr == ""


@pytest.mark.slow
def test_the_pipeline_is_measured_against_the_step_on_resampled_speech(run):
    _, document = run
    assert document["settings"] == SETTINGS
    results = document["results"]
    corpus = results["corpus"]
    assert corpus["clips"] == SETTINGS["clips"]
    assert corpus["sampling_rate"] != 16000  # Every example is resampled.
    assert 0 < corpus["mean_clip_seconds"] <= corpus["longest_clip_seconds"] <= 30
    assert set(results["pipeline"]) == set(input_pipeline.PIPELINE_VARIANTS)
    for variant in results["pipeline"].values():
        for cores in ("all_cores", "single_core"):
            assert variant[cores]["examples_per_second"] > 0
            assert variant[cores]["cpu_seconds_per_example"] > 0
    step = results["step"]
    assert step["examples_per_second"] == SETTINGS["batch_size"] / step["seconds_per_step"]
    # The step trains on the token length the pipeline's batches have.
    assert step["target_tokens"] == results["pipeline"]["features on the host"]["target_tokens"]
    delivered = results["pipeline"]["features on the host"]["all_cores"]["examples_per_second"]
    assert results["pipeline_over_step"] == delivered / step["examples_per_second"]


@pytest.mark.slow
def test_every_stage_has_a_positive_cost(run):
    _, document = run
    stages = document["results"]["stages"]
    assert set(stages) == STAGES
    for cost in stages.values():
        assert set(cost) == COST_KEYS
        assert all(seconds > 0 for seconds in cost.values()), cost


@pytest.mark.slow
def test_the_projection_follows_from_the_stage_costs_and_flop_counts(run):
    _, document = run
    results = document["results"]
    projection = results["projection"]
    single = {
        stage: results["stages"][stage]["single_core_seconds_per_example"]
        for stage in input_pipeline.HOST_STAGES
    }
    total = sum(single.values())
    assert math.isclose(projection["single_core_seconds_per_example"], total)
    assert projection["costliest_stage"] == max(single, key=single.get)
    assert math.isclose(sum(projection["stage_shares"].values()), 1)
    assert set(projection["models"]) == {"tiny", "base", "small"}
    for name, model in projection["models"].items():
        config = backbone_presets[model["preset"]]["config"]
        flop = training_flop_per_example(config, target_tokens=128)
        assert model["training_flop_per_example"] == flop
        rate = 0.4 * 989e12 / flop
        assert math.isclose(model["examples_per_second_needed"], rate)
        assert math.isclose(model["host_cores_all_stages"], rate * total)
        on_host = [stage for stage in single if stage not in model["moved_stages"]]
        assert set(model["moved_stages"]) <= {"features", "resample"}
        assert math.isclose(
            model["host_cores_after_moving"], rate * sum(single[s] for s in on_host)
        )
        python_seconds = sum(single[s] for s in on_host if s in ("records", "decode", "resample"))
        assert math.isclose(model["examples_per_second_per_process"], 1 / python_seconds)
        assert model["processes_needed"] == max(
            1,
            math.ceil(model["host_cores_after_moving"] / 14),
            math.ceil(rate * python_seconds),
        )
        assert f"{rate:,.0f} for {name}" in projection["text"]
    # Bigger models train fewer examples per second, so need fewer cores.
    models = projection["models"]
    assert (
        models["tiny"]["host_cores_all_stages"]
        > models["base"]["host_cores_all_stages"]
        > models["small"]["host_cores_all_stages"]
    )
