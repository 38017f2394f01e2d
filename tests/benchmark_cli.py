"""Runs the docs' `python -m benchmarks.NAME` commands at a tiny size.

Benchmarks are not timed tests: each test runs a command line of the docs as a
user would, with options appended that make it small (later options win),
and checks the table and the JSON it writes.
"""

from doc_commands import module_arguments
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


def docs_benchmark_lines(module):
    """The arguments of every docs line that runs `module`; there is one at least."""
    lines = module_arguments(module)
    assert lines, f"the docs show no `python -m {module}` command"
    return lines


def run_benchmark(module, docs_arguments, *tiny_arguments, output, timeout=900):
    """`python -m module DOCS-ARGUMENTS TINY-ARGUMENTS --output OUTPUT`."""
    return run_module(
        module, *docs_arguments, *tiny_arguments, "--output", str(output), timeout=timeout
    )
