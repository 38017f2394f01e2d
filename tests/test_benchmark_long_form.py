"""`python -m benchmarks.long_form` runs as the docs show it, at a tiny size.

Not a timed test: it checks the table and the JSON, and that every side
transcribes the two sentences it is given.
"""

import json

import pytest
from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark

[DOCS_ARGUMENTS] = docs_benchmark_lines("benchmarks.long_form")
SIDES = ["ours, sequential (XLA)", "ours, batched (XLA)", "faster-whisper", "transformers pipeline"]


@pytest.mark.slow
def test_the_long_form_benchmark_compares_ours_with_both_peers(tmp_path):
    output = tmp_path / "long_form.json"
    completed = run_benchmark(
        "benchmarks.long_form", DOCS_ARGUMENTS, "--sentences", "2", output=output
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("Long-form transcription with timestamps, tiny.en")
    document = json.loads(output.read_text())
    assert document["command"].startswith("python -m benchmarks.long_form")
    results = document["results"]
    assert list(results["sides"]) == SIDES
    for name, side in results["sides"].items():
        assert side["segments"] >= 1 and side["wer"] <= 0.5, (name, side["text"])
        assert side["real_time_factor"] == pytest.approx(side["seconds"] / results["audio_seconds"])
    assert set(results["ours_speedup_over"]) == {"faster-whisper", "transformers pipeline"}
