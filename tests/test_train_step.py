"""The Trainer's distributed step, on a small random Whisper.

Data parallelism must not change the result: two replicas (two logical CPU
devices, or two worker processes) end with the weights and optimizer state of
one device fed the same global batches, and accumulating two half batches
equals one full batch. The runs that need a process of their own go through
tests/train_step_harness.py.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import train_step_harness as harness

from train.fine_tuning import FineTuning
from train.optimizer import WarmupDecaySchedule
from train.optimizer import build_optimizer
from train.trainer import Trainer
from whisper.whisper_audio_to_text import token_cross_entropy

HARNESS = os.path.join(os.path.dirname(__file__), "train_step_harness.py")
# Float32 sums in another order: replicas add up the same terms differently.
TOLERANCE = 1e-5
# Every run below clips (the gradients' norms are about 0.7 to 1.4) and
# accumulates, so the equivalence covers both.
DISTRIBUTED_SETTINGS = {"gradient_accumulation_steps": 2, "clip_norm": 0.8}


@pytest.fixture
def one_device():
    return tf.distribute.OneDeviceStrategy("/cpu:0")


def run_harness(output, *arguments, env=None):
    return subprocess.Popen(
        [sys.executable, HARNESS, str(output), *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(*processes, timeout=300):
    """Waits for the harness processes; fails with the output of one that failed."""
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            remaining = max(deadline - time.monotonic(), 1)
            output, _ = process.communicate(timeout=remaining)
            if process.returncode != 0:
                pytest.fail(f"train_step_harness.py failed:\n{output}")
    finally:
        for process in processes:  # a worker whose peer failed would wait forever
            if process.poll() is None:
                process.kill()


# Data parallelism ---------------------------------------------------------


@pytest.mark.slow
def test_two_mirrored_replicas_match_one_device(tmp_path):
    output = tmp_path / "mirrored.npz"
    settings = {**DISTRIBUTED_SETTINGS, "jit_compile": True}
    finish(
        run_harness(
            output,
            "--strategy",
            "mirrored",
            "--num-cpu-devices",
            "2",
            "--also-one-device",
            "--settings",
            json.dumps(settings),
            "--steps",
            "4",
            "--non-finite-step",
            "1",
        )
    )
    arrays = dict(np.load(output))
    mirrored = harness.load_run(arrays)
    single = harness.load_run(arrays, "one_device/")
    assert arrays["num_replicas"] == 2 and arrays["is_chief"]
    # A NaN that only the first replica saw skipped the update on both.
    assert mirrored["metrics"]["skipped_update"].tolist() == [0, 1, 0, 0]
    assert np.any(single["metrics"]["grad_norm"] > settings["clip_norm"])
    difference = harness.largest_difference(mirrored, single)
    print(f"2 mirrored replicas vs one device: largest difference {difference:.2g}")
    assert difference < TOLERANCE


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_workers_match_one_device(tmp_path, one_device):
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(2)]}
    workers = []
    for index in range(2):
        # TF_CONFIG must be set before the worker imports TensorFlow.
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(task)}
        workers.append(
            run_harness(
                tmp_path / f"worker_{index}.npz",
                "--strategy",
                "multi_worker",
                "--settings",
                json.dumps(DISTRIBUTED_SETTINGS),
                env=env,
            )
        )
    # The single-device reference, here, while the workers run.
    batches = harness.global_batches(num_steps=3, global_batch_size=8)
    single = harness.run_steps(one_device, batches, **DISTRIBUTED_SETTINGS)
    finish(*workers)

    chief, other = (dict(np.load(tmp_path / f"worker_{i}.npz")) for i in range(2))
    assert chief["num_replicas"] == 2
    assert chief["is_chief"] and not other["is_chief"]
    assert harness.largest_difference(harness.load_run(chief), harness.load_run(other)) == 0
    difference = harness.largest_difference(harness.load_run(chief), single)
    print(f"2 workers vs one device: largest difference {difference:.2g}")
    assert difference < TOLERANCE


def test_accumulating_two_half_batches_equals_one_full_batch(one_device):
    batches = harness.global_batches(num_steps=2, global_batch_size=8)
    x, y = batches[0]
    halves = np.split(x["decoder_padding_mask"], 2)
    # Unequal halves: averaging each half's loss would weigh tokens unequally.
    assert halves[0].sum() != halves[1].sum()

    full = harness.run_steps(one_device, batches, jit_compile=False)
    accumulated = harness.run_steps(
        one_device, batches, gradient_accumulation_steps=2, jit_compile=False
    )
    difference = harness.largest_difference(full, accumulated)
    print(f"accumulation 2 x 4 vs 1 x 8: largest difference {difference:.2g}")
    assert difference < TOLERANCE

    # The reported loss is the mean over the target tokens of the batch.
    model = harness.small_model()
    mask = x["decoder_padding_mask"].astype("float32")
    expected = float(token_cross_entropy(y, model(x), mask))
    assert accumulated["metrics"]["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert accumulated["metrics"]["target_tokens"][0] == mask.sum()
    assert accumulated["metrics"]["examples"][0] == 8


def test_traced_once_for_the_dataset_the_step_takes_each_shape_and_trains_alike(one_device):
    # Clip-length windows change shape from batch to batch: traced once for
    # the dataset's element_spec, the step takes each shape without tracing
    # again, and gives the losses of a step traced per shape.
    (x, y), second = harness.global_batches(num_steps=2, global_batch_size=4)
    shorter = ({**second[0], "encoder_features": second[0]["encoder_features"][:, :8]}, second[1])

    def dataset_fn(context):
        longer = tf.data.Dataset.from_tensors((x, y))
        return longer.concatenate(tf.data.Dataset.from_tensors(shorter))

    losses = {}
    for trace_once in (False, True):
        trainer = harness.build_trainer(one_device, jit_compile=False)
        iterator = iter(one_device.distribute_datasets_from_function(dataset_fn))
        if trace_once:
            trainer.trace_once_for(iterator.element_spec)
        losses[trace_once] = [trainer.train_step(batch)["loss"] for batch in iterator]
    # `trainer` is the last one built, the one traced for the dataset.
    assert trainer._distributed_step.experimental_get_tracing_count() == 1
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-6)


def test_a_batch_that_does_not_split_into_micro_batches_is_refused(one_device):
    trainer = harness.build_trainer(one_device, gradient_accumulation_steps=3, jit_compile=False)
    batch = harness.global_batches(num_steps=1, global_batch_size=4)[0]
    with pytest.raises(ValueError, match="gradient_accumulation_steps=3 .* batch of 4"):
        trainer.train_step(batch)


def test_metrics_report_the_learning_rate_each_update_used(one_device):
    schedule = WarmupDecaySchedule(0.01, warmup_steps=2, total_steps=4)
    batches = harness.global_batches(num_steps=4, global_batch_size=4)
    run = harness.run_steps(one_device, batches, learning_rate=schedule, jit_compile=False)
    np.testing.assert_allclose(
        run["metrics"]["learning_rate"], [0.01 / 3, 0.02 / 3, 0.01, 0.005], rtol=1e-6
    )


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {"gradient_accumulation_steps": 0},
            "gradient_accumulation_steps must be a positive int, got 0",
        ),
        ({"clip_norm": -1.0}, "clip_norm must be positive or None, got -1.0"),
    ],
)
def test_bad_trainer_settings_are_named(one_device, settings, message):
    with pytest.raises(ValueError) as error:
        harness.build_trainer(one_device, **settings)
    assert message in str(error.value)


# Clipping, freezing, precision ------------------------------------------------


def first_moment_norm(optimizer):
    """Norm of Adam's first moments, which after one step are (1 - beta_1) g."""
    moments = [v.numpy() for v in optimizer.variables if v.path.endswith("_momentum")]
    return float(np.sqrt(sum(np.sum(m.astype("float64") ** 2) for m in moments)))


@pytest.mark.parametrize("clip_norm", [None, 0.05])
def test_clipping_caps_the_norm_of_the_applied_gradient(one_device, clip_norm):
    trainer = harness.build_trainer(one_device, clip_norm=clip_norm, jit_compile=False)
    batch = harness.global_batches(num_steps=1, global_batch_size=8)[0]
    grad_norm = trainer.train_step(batch)["grad_norm"]
    applied_norm = first_moment_norm(trainer.optimizer) / (1 - 0.9)
    if clip_norm is None:
        assert applied_norm == pytest.approx(grad_norm, rel=1e-4)
    else:
        assert grad_norm > 10 * clip_norm  # reported before clipping
        assert applied_norm == pytest.approx(clip_norm, rel=1e-4)


def add_encoder_backward_probe(model):
    """Counts backward passes through the encoder's output.

    The count grows when a gradient is built through the encoder (at trace
    time, since the step is a tf.function).
    """
    encoder = model.backbone.encoder
    forward = encoder.call
    backward_passes = []

    @tf.custom_gradient
    def probe(encoder_output):
        def backward(upstream):
            backward_passes.append(1)
            return upstream

        return tf.identity(encoder_output), backward

    encoder.call = lambda *args, **kwargs: probe(forward(*args, **kwargs))
    return backward_passes


@pytest.mark.parametrize("freeze_encoder", [True, False])
def test_a_frozen_encoder_is_neither_differentiated_nor_updated(one_device, freeze_encoder):
    trainer = harness.build_trainer(
        one_device, fine_tuning=FineTuning(freeze_encoder=freeze_encoder), jit_compile=False
    )
    model = trainer.model
    backward_passes = add_encoder_backward_probe(model)
    encoder_before = [v.numpy() for v in model.backbone.encoder.weights]
    decoder_before = [v.numpy() for v in model.backbone.decoder.trainable_variables]
    for batch in harness.global_batches(num_steps=2, global_batch_size=4):
        trainer.train_step(batch)

    encoder_changed = [
        not np.array_equal(before, v.numpy())
        for before, v in zip(encoder_before, model.backbone.encoder.weights)
    ]
    decoder_changed = [
        not np.array_equal(before, v.numpy())
        for before, v in zip(decoder_before, model.backbone.decoder.trainable_variables)
    ]
    assert all(decoder_changed)
    encoder_slots = [v for v in trainer.optimizer.variables if "/encoder_" in v.path]
    if freeze_encoder:
        assert not any(encoder_changed)
        assert backward_passes == [] and encoder_slots == []
    else:
        # The probe is sound: unfrozen, the encoder is trained through it.
        assert any(encoder_changed)
        assert backward_passes and encoder_slots


@pytest.mark.parametrize(
    "dtype", ["mixed_bfloat16", pytest.param("mixed_float16", marks=pytest.mark.slow)]
)
def test_mixed_precision_loss_is_finite_and_falls(one_device, dtype):
    trainer = harness.build_trainer(one_device, dtype=dtype, jit_compile=True)
    batch = harness.global_batches(num_steps=1, global_batch_size=4)[0]
    losses = [trainer.train_step(batch)["loss"] for _ in range(6)]
    print(f"{dtype} losses: {np.round(losses, 4).tolist()}")
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0] - 0.05


# The loss ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_non_finite_loss_skips_the_update_and_leaves_every_variable(one_device):
    trainer = harness.build_trainer(one_device)
    batches = harness.global_batches(3, 4, non_finite_step=1)
    distributed = iter(harness.distribute(one_device, batches))
    trainer.train_step(next(distributed))
    before = state_of(trainer)
    metrics = trainer.train_step(next(distributed))
    assert metrics["skipped_update"] == 1.0 and not np.isfinite(metrics["loss"])
    for saved, now in zip(before, state_of(trainer)):
        np.testing.assert_array_equal(saved, now)
    assert trainer.train_step(next(distributed))["skipped_update"] == 0.0
    assert int(trainer.optimizer.iterations.numpy()) == 2


def state_of(trainer):
    return [v.numpy() for v in trainer.model.weights + trainer.optimizer.variables]


def restore(trainer, state):
    for variable, value in zip(trainer.model.weights + trainer.optimizer.variables, state):
        variable.assign(value)


def test_padding_changes_nothing_and_targets_do(one_device):
    trainer = harness.build_trainer(one_device, jit_compile=False)
    x, y = harness.global_batches(num_steps=1, global_batch_size=4)[0]
    padding = x["decoder_padding_mask"] == 0
    assert padding.any()
    initial = state_of(trainer)

    def train_once(x, y):
        restore(trainer, initial)
        metrics = trainer.train_step((x, y))
        return metrics, state_of(trainer)

    metrics, state = train_once(x, y)
    other_padding = (y + 1) % harness.VOCABULARY_SIZE
    padded_x = {**x, "decoder_token_ids": np.where(padding, 0, x["decoder_token_ids"])}
    padded_y = np.where(padding, other_padding, y)
    padded_metrics, padded_state = train_once(padded_x, padded_y)
    assert padded_metrics == metrics
    for value, padded_value in zip(state, padded_state):
        np.testing.assert_array_equal(value, padded_value)

    # A changed real target does change the loss: the comparison can fail.
    changed_metrics, _ = train_once(x, np.where(padding, y, other_padding))
    assert changed_metrics["loss"] != metrics["loss"]


def test_a_model_built_outside_the_strategy_scope_is_refused(one_device):
    model = harness.small_model()
    with one_device.scope():
        optimizer = build_optimizer(model, 1e-3)
    with pytest.raises(ValueError, match="The model was not built under this strategy's scope"):
        Trainer(one_device, model, optimizer)


# The quick tier checks one mode, eagerly; the full suite every mode, compiled too.
@pytest.mark.parametrize("jit_compile", [pytest.param(True, marks=pytest.mark.slow), False])
@pytest.mark.parametrize("mode", ["attention", pytest.param("layers", marks=pytest.mark.slow)])
def test_rematerialized_training_reaches_the_same_weights(one_device, mode, jit_compile):
    batches = harness.global_batches(num_steps=2, global_batch_size=4)
    kept = harness.run_steps(one_device, batches, jit_compile=jit_compile)
    recomputed = harness.run_steps(one_device, batches, jit_compile=jit_compile, rematerialize=mode)
    difference = harness.largest_difference(kept, recomputed)
    print(f"rematerialized vs kept activations: largest difference {difference:.2g}")
    assert difference < TOLERANCE
