"""Runs the README's `python -m benchmarks.NAME` commands at a tiny size.

Benchmarks are not timed tests: each test runs a README command line as a
user would, with options appended that make it small (later options win),
and checks the table and the JSON it writes.
"""

from readme_commands import module_arguments
from train_cli import run_module

# A Whisper small enough that a training step takes milliseconds.
TINY_ARCHITECTURE = {
    "num_layers": 1,
    "num_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 32,
    "max_encoder_sequence_length": 200,
    "max_decoder_sequence_length": 40,
}


def readme_benchmark_lines(module):
    """The arguments of every README line that runs `module`; there is one at least."""
    lines = module_arguments(module)
    assert lines, f"README.md shows no `python -m {module}` command"
    return lines


def run_benchmark(module, readme_arguments, *tiny_arguments, output, timeout=900):
    """`python -m module README-ARGUMENTS TINY-ARGUMENTS --output OUTPUT`."""
    return run_module(
        module, *readme_arguments, *tiny_arguments, "--output", str(output), timeout=timeout
    )
