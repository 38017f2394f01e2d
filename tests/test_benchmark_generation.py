"""`python -m benchmarks.generation` runs as the docs show it, at a tiny size.

Not a timed test: it checks the table and the JSON's structure and
consistency, and that on a real clip the real tiny.en weights decode to the
same tokens on every side.
"""

import json

import pytest
from benchmark_cli import docs_benchmark_lines
from benchmark_cli import run_benchmark

OURS = "ours (XLA)"
PEERS = {"transformers (torch)", "CTranslate2"}
MAX_NEW_TOKENS = 4

[DOCS_ARGUMENTS] = docs_benchmark_lines("benchmarks.generation")


@pytest.mark.slow
def test_the_generation_benchmark_compares_ours_with_both_peers(tmp_path):
    output = tmp_path / "generation.json"
    completed = run_benchmark(
        "benchmarks.generation",
        DOCS_ARGUMENTS,
        "--batch-sizes",
        "1",
        "--clips",
        "1",
        "--max-new-tokens",
        str(MAX_NEW_TOKENS),
        "--repeats",
        "1",
        output=output,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith(
        "Greedy generation with the key/value cache, tiny.en, float32, at most 4 new tokens"
    )
    assert "tokens differ" not in completed.stdout
    assert completed.stderr == ""
    document = json.loads(output.read_text())
    assert document["settings"] == {
        "batch_sizes": [1],
        "repeats": 1,
        "max_new_tokens": MAX_NEW_TOKENS,
        "clips": 1,
        "prompt_ids": [50257, 50362],
    }
    [result] = document["results"]
    assert result["batch_size"] == 1 and result["audio_seconds"] > 1
    sides = result["sides"]
    assert set(sides) == {OURS, *PEERS}
    for side in sides.values():
        [seconds] = side["seconds_each_repeat"]
        assert side["seconds"] == seconds > 0
        assert side["real_time_factor"] == seconds / result["audio_seconds"]
        assert side["generated_tokens"] == sum(len(row) for row in side["token_ids"])
        assert side["tokens_per_second"] == side["generated_tokens"] / seconds
    # The clip says more than four tokens: every side generated all it may,
    # and the same ones.
    [ours_row] = sides[OURS]["token_ids"]
    assert len(ours_row) == MAX_NEW_TOKENS
    for peer in PEERS:
        assert sides[peer]["token_ids"] == [ours_row]
        assert sides[peer]["identical_to_ours"] == 1.0
    assert result["ours_speedup_over"] == {
        peer: sides[peer]["seconds"] / sides[OURS]["seconds"] for peer in PEERS
    }
