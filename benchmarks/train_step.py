"""One training step, the same work on both sides: ours against keras_hub.

    python -m benchmarks.train_step [--precisions float32 mixed_bfloat16] [--rounds 3]

Both sides train the whisper_tiny_en architecture (random weights) on a
global batch of 2 with 30 s features and 32 target tokens, with AdamW, XLA
on both sides, the same Keras and TensorFlow:

- ours: the real `train.trainer.Trainer` (default strategy, the recipe's
  clipping), plus the same step with `rematerialize=True`;
- the peer: keras_hub 0.32's `WhisperBackbone`, its token embedding as a
  tied head, trained with Keras's own `train_on_batch` under
  `jit_compile=True` on the masked token cross-entropy.

Each side runs in a process of its own, the sides alternating for
`--rounds` rounds; each reports the median step time after its warm-up,
and its peak resident memory (and the growth from just before the first
step, which is the step's own working set). Our FLOP rate
(`benchmarks.whisper_flops`) is set against this machine's matmul rate
measured in the same run (`benchmarks.matmul_rate`).
"""

import argparse
import json
import statistics
import time

from benchmarks import report
from benchmarks.peer_process import PeakResidentMemory
from benchmarks.peer_process import alternate
from benchmarks.peer_process import measure_in_process
from benchmarks.peer_process import resident_memory_bytes
from benchmarks.whisper_flops import training_flop_per_example
from whisper.utils.quiet_import import import_tensorflow_quietly

# Each side: the measurement, and what our step rematerializes.
SIDES = {
    "ours": ("benchmarks.train_step:measure_ours", "none"),
    "ours-remat-attention": ("benchmarks.train_step:measure_ours", "attention"),
    "ours-remat-layers": ("benchmarks.train_step:measure_ours", "layers"),
    "keras_hub": ("benchmarks.train_step:measure_keras_hub", "none"),
}
# The side every speed is divided by.
PEER = "keras_hub"
# Where the matmul rate is measured: square float32 products this wide.
MATMUL_SIZE = 2048


def main():
    args = parse_arguments()
    settings = {
        "preset": args.preset,
        "batch_size": args.batch_size,
        "target_tokens": args.target_tokens,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "architecture": args.architecture,
    }
    results = {}
    for precision in args.precisions:
        results[precision] = compare_sides(
            {**settings, "precision": precision}, args.sides, args.rounds
        )
    print_results(results)
    report.write_results(args.output, "benchmarks.train_step", settings, results)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="whisper_tiny_en")
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--target-tokens", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per process")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="processes per side, alternating")
    parser.add_argument(
        "--sides", nargs="+", choices=list(SIDES), default=list(SIDES), help=f"with {PEER} always"
    )
    parser.add_argument(
        "--architecture",
        type=json_object,
        default={},
        help="JSON overriding the preset's architecture, e.g. '{\"num_layers\": 1}'",
    )
    report.add_output_argument(parser, "train_step")
    return parser.parse_args()


def json_object(text):
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def compare_sides(settings, names, rounds):
    """Each side's medians, FLOP rate, and speed and memory against keras_hub."""
    names = [name for name in SIDES if name in names or name == PEER]
    sides = {
        name: (SIDES[name][0], {**settings, "rematerialize": SIDES[name][1]}) for name in names
    }
    measured = alternate(sides, rounds)
    matmul_dtype = "bfloat16" if settings["precision"] == "mixed_bfloat16" else "float32"
    matmul = measure_in_process(
        "benchmarks.matmul_rate:measure", {"size": MATMUL_SIZE, "dtype": matmul_dtype}
    )
    summary = {name: summarize(results) for name, results in measured.items()}
    peer = summary[PEER]
    for side in summary.values():
        side["speedup_over_keras_hub"] = peer["seconds_per_step"] / side["seconds_per_step"]
        side["step_memory_of_keras_hub"] = side["step_memory_bytes"] / peer["step_memory_bytes"]
        side["share_of_matmul_rate"] = side["flop_per_second"] / matmul["flop_per_second"]
    return {"sides": summary, "matmul_flop_per_second": matmul["flop_per_second"]}


def summarize(results):
    seconds = report.median(results, "seconds_per_step")
    flop_per_step = results[0]["flop_per_step"]
    return {
        "seconds_per_step": seconds,
        "examples_per_second": results[0]["batch_size"] / seconds,
        "flop_per_second": flop_per_step / seconds,
        "peak_memory_bytes": max(r["peak_memory_bytes"] for r in results),
        "step_memory_bytes": max(r["step_memory_bytes"] for r in results),
        "seconds_per_step_each_process": [r["seconds_per_step"] for r in results],
    }


def print_results(results):
    columns = (
        "side",
        "s/step",
        "examples/s",
        "vs keras_hub",
        "of matmul",
        "peak GiB",
        "step GiB",
        "step memory vs keras_hub",
    )
    for precision, comparison in results.items():
        rows = [
            (
                name,
                side["seconds_per_step"],
                side["examples_per_second"],
                f"{side['speedup_over_keras_hub']:.2f}x",
                f"{side['share_of_matmul_rate']:.0%}",
                side["peak_memory_bytes"] / 2**30,
                side["step_memory_bytes"] / 2**30,
                f"{side['step_memory_of_keras_hub']:.2f}",
            )
            for name, side in comparison["sides"].items()
        ]
        rate = comparison["matmul_flop_per_second"] / 1e9
        title = f"Training step, {precision} (matmul {rate:,.0f} GFLOP/s):"
        report.print_table(title, columns, rows)


# Measurements, each in its own process -------------------------------------


def architecture(settings):
    from whisper.whisper_presets import backbone_presets

    return {**backbone_presets[settings["preset"]]["config"], **settings["architecture"]}


def synthetic_batch(settings):
    """Random 30 s features and a full-length target for every example."""
    import numpy as np

    config = architecture(settings)
    rng = np.random.default_rng(0)
    batch, tokens = settings["batch_size"], settings["target_tokens"]
    features = rng.standard_normal(
        (batch, config["max_encoder_sequence_length"], config["num_mels"])
    ).astype("float32")
    token_ids = rng.integers(0, config["vocabulary_size"], (batch, tokens + 1), dtype="int32")
    x = {
        "encoder_features": features,
        "decoder_token_ids": token_ids[:, :-1],
        "decoder_padding_mask": np.ones((batch, tokens), "int32"),
    }
    return x, token_ids[:, 1:]


def measure_ours(settings):
    """The real Trainer's step on the default strategy."""
    import_tensorflow_quietly()
    from train.strategy import build_strategy

    strategy = build_strategy("default")
    trainer = build_trainer(strategy, settings)
    batches = synthetic_batches(strategy, settings)
    return time_steps(lambda: trainer.train_step(next(batches)), settings)


def synthetic_batches(strategy, settings):
    """`synthetic_batch` again and again, distributed as the Trainer takes it."""
    import tensorflow as tf

    batch = synthetic_batch(settings)
    dataset = strategy.distribute_datasets_from_function(
        lambda _: tf.data.Dataset.from_tensors(batch).repeat()
    )
    return iter(dataset)


def build_trainer(strategy, settings):
    """The real Trainer of a random-weight model, AdamW, the recipe's clipping."""
    from train.optimizer import WarmupDecaySchedule
    from train.optimizer import build_optimizer
    from train.trainer import Trainer
    from whisper import WhisperAudioToText
    from whisper import WhisperBackbone

    with strategy.scope():
        backbone = WhisperBackbone(**architecture(settings), dtype=settings["precision"])
        model = WhisperAudioToText(backbone)
        optimizer = build_optimizer(model, WarmupDecaySchedule(1e-4, 10, 1000))
    return Trainer(
        strategy, model, optimizer, clip_norm=1.0, rematerialize=settings["rematerialize"]
    )


def measure_keras_hub(settings):
    """keras_hub's backbone with a tied head, trained by `train_on_batch` under XLA."""
    import_tensorflow_quietly()
    import keras
    import keras_hub

    backbone = keras_hub.models.WhisperBackbone(
        **architecture(settings), dtype=settings["precision"]
    )
    inputs = backbone.input
    hidden = backbone(inputs)["decoder_sequence_output"]
    logits = backbone.token_embedding(hidden, reverse=True)
    model = keras.Model(inputs, keras.layers.Activation("linear", dtype="float32")(logits))
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.01, beta_2=0.98, epsilon=1e-6),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    x, y = synthetic_batch(settings)
    weights = x["decoder_padding_mask"].astype("float32")
    return time_steps(lambda: model.train_on_batch(x, y, sample_weight=weights), settings)


def time_steps(step, settings):
    """Warm-up steps, then the timed ones: their median time and peak memory.

    The step's memory is the peak while the timed steps run less the
    resident set before the first step (model and optimizer built, nothing
    compiled yet): activations, gradients and the compiled programs.
    """
    memory_before = resident_memory_bytes()
    for _ in range(settings["warmup_steps"]):
        step()
    seconds = []
    with PeakResidentMemory() as memory:
        for _ in range(settings["steps"]):
            start = time.perf_counter()
            step()
            seconds.append(time.perf_counter() - start)
    config = architecture(settings)
    flop = training_flop_per_example(
        config, settings["target_tokens"], config["max_encoder_sequence_length"]
    )
    return {
        "seconds_per_step": statistics.median(seconds),
        "batch_size": settings["batch_size"],
        "flop_per_step": flop * settings["batch_size"],
        "peak_memory_bytes": memory.peak_bytes,
        "step_memory_bytes": memory.peak_bytes - memory_before,
    }


if __name__ == "__main__":
    main()
