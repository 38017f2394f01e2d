"""`python -m benchmarks.finetune_targets` runs as the docs show it, smaller.

This is where fine-tuning on timestamped targets with previous-text prompts
is shown to work: tiny.en, fine-tuned through `python -m train` with
`data.timestamps=true` and `data.previous_text_probability=0.5` on clips
of two espeak-ng sentences, still places every segment boundary of held-out
clips within 1 s of the truth, and transcribes them with the previous
clip's text as the prompt as well as without it.
"""

import json

import pytest
from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark

[DOCS_ARGUMENTS] = docs_benchmark_lines("benchmarks.finetune_targets")


@pytest.mark.slow
@pytest.mark.longest
def test_fine_tuning_with_timestamps_and_prompts_keeps_both_working(tmp_path):
    output = tmp_path / "finetune_targets.json"
    completed = run_benchmark(
        "benchmarks.finetune_targets",
        DOCS_ARGUMENTS,
        *("--variants", "targets", "--recordings", "3", "--held-out-recordings", "1"),
        *("--clips-per-recording", "3", "--steps", "20", "--batch-size", "8"),
        output=output,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("Fine-tuning targets, tiny.en, 20 steps")
    document = json.loads(output.read_text())
    assert document["command"].startswith("python -m benchmarks.finetune_targets")
    models = document["results"]["models"]
    assert list(models) == ["pretrained", "targets"]
    tuned = models["targets"]
    assert tuned["max_boundary_error_seconds"] <= 1.0, tuned
    assert tuned["prompted_clips"] == 2
    assert tuned["wer_with_prompt"] <= tuned["wer_without_prompt"] + 0.05, tuned
