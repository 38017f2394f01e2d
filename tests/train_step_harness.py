"""A few `Trainer` steps on a small random Whisper, for the training tests.

Imported by the tests for runs in the pytest process, and run as a script for
runs that need a process of their own: splitting the CPU into logical devices
(TensorFlow allows it only before its devices are first used) or joining a
MultiWorkerMirroredStrategy cluster (TF_CONFIG must be set before TensorFlow
is imported):

    python tests/train_step_harness.py RESULT.npz --strategy mirrored \
        --num-cpu-devices 2 --also-one-device --settings '{"clip_norm": 0.5}'

saves the run's final weights, optimizer variables and metrics (and with
`--also-one-device`, those of the same run on one device of this process,
under keys prefixed "one_device/").
"""

import argparse
import json
import os
import sys

# Runs as a script from anywhere: the repository root holds `train`, `whisper`.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

VOCABULARY_SIZE = 64
FRAMES = 16
DECODER_LENGTH = 8
METRICS = ("loss", "learning_rate", "grad_norm", "target_tokens", "examples", "skipped_update")


def small_model(dtype="float32", seed=0, num_layers=1):
    """A small WhisperAudioToText; the same weights for the same seed."""
    import keras

    from whisper import WhisperAudioToText
    from whisper import WhisperBackbone

    keras.utils.set_random_seed(seed)
    backbone = WhisperBackbone(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_encoder_sequence_length=FRAMES,
        max_decoder_sequence_length=DECODER_LENGTH,
        dtype=dtype,
    )
    return WhisperAudioToText(backbone)


def global_batches(num_steps, global_batch_size, seed=0, non_finite_step=None):
    """[(x, y)] of numpy arrays, one per step, with ragged target lengths.

    Rows hold between 1 and DECODER_LENGTH target tokens, so replicas and
    micro-batches hold different numbers of them: averaging per replica or
    per micro-batch would give a different loss from the global mean.
    The batch of `non_finite_step` (0-based) has NaN features in its first
    row, which only the first replica sees: its update must be skipped.
    """
    random = np.random.default_rng(seed)
    batches = []
    for _ in range(num_steps):
        lengths = random.integers(1, DECODER_LENGTH + 1, size=(global_batch_size, 1))
        mask = (np.arange(DECODER_LENGTH)[None, :] < lengths).astype("int32")
        x = {
            "encoder_features": random.normal(size=(global_batch_size, FRAMES, 80)).astype(
                "float32"
            ),
            "decoder_token_ids": random.integers(
                0, VOCABULARY_SIZE, size=(global_batch_size, DECODER_LENGTH)
            ).astype("int32"),
            "decoder_padding_mask": mask,
        }
        y = random.integers(0, VOCABULARY_SIZE, size=(global_batch_size, DECODER_LENGTH))
        if len(batches) == non_finite_step:
            x["encoder_features"][0, 0, 0] = np.nan
        batches.append((x, y.astype("int32")))
    return batches


def distribute(strategy, batches):
    """The batches as `strategy.distribute_datasets_from_function` gives them.

    Each input pipeline (one per worker) reads its consecutive share of the
    rows of every global batch, cut into per-replica batches.
    """
    import tensorflow as tf

    global_batch_size = len(batches[0][1])

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(global_batch_size)
        local_replicas = context.num_replicas_in_sync // context.num_input_pipelines
        start = context.input_pipeline_id * local_replicas * per_replica
        rows = slice(start, start + local_replicas * per_replica)
        local_batches = [
            ({key: value[rows] for key, value in x.items()}, y[rows]) for x, y in batches
        ]
        stacked = tf.nest.map_structure(lambda *parts: np.concatenate(parts), *local_batches)
        return tf.data.Dataset.from_tensor_slices(stacked).batch(per_replica)

    return strategy.distribute_datasets_from_function(dataset_fn)


def build_trainer(
    strategy,
    *,
    dtype="float32",
    learning_rate=1e-2,
    weight_decay=0.1,
    epsilon=1e-6,
    fine_tuning=None,
    num_layers=1,
    **trainer_settings,
):
    """A Trainer of `small_model` with AdamW, built under `strategy`'s scope;
    `fine_tuning` (a `train.fine_tuning.FineTuning`) chooses what trains."""
    from train.optimizer import build_optimizer
    from train.trainer import Trainer

    with strategy.scope():
        model = small_model(dtype, num_layers=num_layers)
        if fine_tuning is not None:
            fine_tuning.apply(model)
        optimizer = build_optimizer(
            model, learning_rate, weight_decay=weight_decay, epsilon=epsilon
        )
    return Trainer(strategy, model, optimizer, **trainer_settings)


def run_steps(strategy, batches, **settings):
    """Trains on `batches`; returns final weights, optimizer state and metrics."""
    trainer = build_trainer(strategy, **settings)
    steps = [trainer.train_step(batch) for batch in distribute(strategy, batches)]
    return {
        "weights": [np.asarray(v.numpy()) for v in trainer.model.weights],
        "optimizer": [np.asarray(v.numpy()) for v in trainer.optimizer.variables],
        "metrics": {name: np.array([step[name] for step in steps]) for name in METRICS},
    }


def largest_difference(run, other):
    """Largest absolute difference of weights, optimizer variables, metrics."""
    pairs = [
        *zip(run["weights"], other["weights"]),
        *zip(run["optimizer"], other["optimizer"]),
        *zip(run["metrics"].values(), other["metrics"].values()),
    ]
    return max(float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in pairs)


def run_arrays(run, prefix="", **extra):
    """A run as flat named arrays, for `np.savez`; `load_run` reads them back."""
    arrays = {f"{prefix}weights/{i}": w for i, w in enumerate(run["weights"])}
    arrays.update({f"{prefix}optimizer/{i}": v for i, v in enumerate(run["optimizer"])})
    arrays.update({f"{prefix}metrics/{k}": v for k, v in run["metrics"].items()})
    arrays.update({f"{prefix}{k}": np.asarray(v) for k, v in extra.items()})
    return arrays


def load_run(arrays, prefix=""):
    def listed(group):
        count = sum(1 for key in arrays if key.startswith(f"{prefix}{group}/"))
        return [arrays[f"{prefix}{group}/{i}"] for i in range(count)]

    return {
        "weights": listed("weights"),
        "optimizer": listed("optimizer"),
        "metrics": {name: arrays[f"{prefix}metrics/{name}"] for name in METRICS},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output")
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--num-cpu-devices", type=int)
    parser.add_argument("--also-one-device", action="store_true")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--global-batch-size", type=int, default=8)
    parser.add_argument("--settings", default="{}", help="build_trainer keywords, JSON")
    parser.add_argument("--non-finite-step", type=int, help="this step's batch holds a NaN")
    args = parser.parse_args()

    # The strategy first: it may split the CPU, which must precede all else.
    from train.strategy import build_strategy
    from train.strategy import is_chief

    strategy = build_strategy(args.strategy, num_cpu_devices=args.num_cpu_devices)
    settings = json.loads(args.settings)
    batches = global_batches(
        args.steps, args.global_batch_size, non_finite_step=args.non_finite_step
    )
    arrays = run_arrays(
        run_steps(strategy, batches, **settings),
        num_replicas=strategy.num_replicas_in_sync,
        is_chief=is_chief(strategy),
    )
    if args.also_one_device:
        import tensorflow as tf

        one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
        arrays.update(run_arrays(run_steps(one_device, batches, **settings), "one_device/"))
    np.savez(args.output, **arrays)


if __name__ == "__main__":
    main()
