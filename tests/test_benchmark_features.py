"""`python -m benchmarks.features` runs as the docs show it, at a tiny size.

Not a timed test: it checks the table and the JSON's structure and
consistency, and that every side computed the same features.
"""

import json

from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark

SIDES = {"ours (tf.data)", "keras_hub", "transformers"}

[DOCS_ARGUMENTS] = docs_benchmark_lines("benchmarks.features")


def test_the_features_benchmark_compares_ours_with_both_peers(tmp_path):
    output = tmp_path / "features.json"
    completed = run_benchmark(
        "benchmarks.features",
        DOCS_ARGUMENTS,
        "--clips",
        "3",
        "--repeats",
        "1",
        "--batch-size",
        "2",
        output=output,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("Log-mel features, 30 s x 80 mels at 16000 Hz")
    assert completed.stderr == ""
    document = json.loads(output.read_text())
    assert document["settings"] == {"clips": 3, "repeats": 1, "batch_size": 2}
    results = document["results"]
    sides = results["sides"]
    assert set(sides) == SIDES
    # The same clips on every side.
    assert len({side["audio_seconds"] for side in sides.values()}) == 1
    for side in sides.values():
        assert side["audio_seconds_per_second"] == side["audio_seconds"] / side["seconds"]
    fastest = results["fastest_peer"]
    assert fastest in SIDES - {"ours (tf.data)"}
    assert results["ours_over_fastest_peer"] == (
        sides["ours (tf.data)"]["audio_seconds_per_second"]
        / sides[fastest]["audio_seconds_per_second"]
    )
    differences = results["max_abs_difference"]
    assert set(differences) == {"ours vs keras_hub", "ours vs transformers"}
    assert all(difference < 1e-4 for difference in differences.values()), differences
