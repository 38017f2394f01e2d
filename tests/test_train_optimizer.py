"""AdamW with selective weight decay, its schedule, and float16 loss scaling."""

import math

import keras
import numpy as np
import pytest
import train_step_harness as harness

from train.optimizer import WarmupDecaySchedule
from train.optimizer import build_optimizer
from train.optimizer import no_weight_decay_variables

PEAK = 1e-3
FLOOR_FRACTION = 0.1
FLOOR = PEAK * FLOOR_FRACTION


def schedule_of(kind):
    return WarmupDecaySchedule(
        PEAK,
        warmup_steps=10,
        total_steps=110,
        kind=kind,
        final_learning_rate_fraction=FLOOR_FRACTION,
    )


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_warms_up_peaks_and_decays_to_the_floor(kind):
    schedule = schedule_of(kind)
    expected = {
        0: PEAK / 11,  # the first update learns: (0 + 1) / (10 + 1) of the peak
        5: PEAK * 6 / 11,
        10: PEAK,  # the peak, at the end of warmup
        60: (PEAK + FLOOR) / 2,  # halfway through the decay, either shape
        110: FLOOR,  # the floor at total_steps ...
        500: FLOOR,  # ... and after
    }
    for step, rate in expected.items():
        assert float(schedule(step)) == pytest.approx(rate, rel=1e-5), step


def test_cosine_decay_follows_a_half_cosine():
    quarter_way = float(schedule_of("cosine")(35))
    remaining = 0.5 * (1 + math.cos(math.pi / 4))
    assert quarter_way == pytest.approx(FLOOR + (PEAK - FLOOR) * remaining, rel=1e-5)
    # Above the linear schedule early in the decay.
    assert quarter_way > float(schedule_of("linear")(35))


def test_schedule_and_optimizer_round_trip_through_their_configs():
    schedule = schedule_of("cosine")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, WarmupDecaySchedule)
    assert restored.get_config() == schedule.get_config()

    optimizer = build_optimizer(harness.small_model(), schedule)
    clone = optimizer.__class__.from_config(optimizer.get_config())
    assert float(clone.learning_rate) == float(optimizer.learning_rate) == pytest.approx(PEAK / 11)
    assert clone.get_config()["learning_rate"] == optimizer.get_config()["learning_rate"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"kind": "step"}, "Unknown schedule kind 'step'"),
        ({"warmup_steps": 200}, "warmup_steps must be in [0, total_steps=110], got 200"),
        ({"final_learning_rate_fraction": 2.0}, "must be in [0, 1], got 2.0"),
        ({"peak_learning_rate": 0.0}, "peak_learning_rate must be positive, got 0.0"),
    ],
)
def test_schedule_rejects_bad_arguments_by_name(arguments, message):
    settings = {"peak_learning_rate": PEAK, "warmup_steps": 10, "total_steps": 110}
    with pytest.raises(ValueError) as error:
        WarmupDecaySchedule(**{**settings, **arguments})
    assert message in str(error.value)


def test_weight_decay_skips_biases_layer_norms_and_embeddings():
    model = harness.small_model()
    learning_rate, weight_decay = 0.1, 0.5
    optimizer = build_optimizer(model, learning_rate, weight_decay=weight_decay)
    variables = model.trainable_variables
    # Ones everywhere (zeros would hide decay), and zero gradients: Adam then
    # moves nothing, so whatever changes was decayed.
    for variable in variables:
        variable.assign(np.ones(variable.shape))
    optimizer.apply([np.zeros(v.shape, "float32") for v in variables], variables)

    decayed = {v.path for v in variables if not np.all(v.numpy() == 1.0)}
    kernels = {v.path for v in variables if v.path.endswith("kernel")}
    assert decayed == kernels
    for variable in variables:
        if variable.path in decayed:
            np.testing.assert_allclose(variable.numpy(), 1 - learning_rate * weight_decay)

    excluded = {v.path for v in no_weight_decay_variables(model)}
    assert {
        "decoder/token_embedding/embeddings",
        "decoder/position_embedding",
        "decoder/layer_norm/gamma",
        "decoder/layer_norm/beta",
        "encoder/conv_1/bias",
        "decoder/layer_0/self_attention/query_bias",
    } <= excluded
    assert excluded == {v.path for v in variables} - kernels


@pytest.mark.parametrize(
    "dtype, loss_scaled",
    [("float32", False), ("mixed_bfloat16", False), ("mixed_float16", True)],
)
def test_loss_scaling_follows_the_dtype_policy(dtype, loss_scaled):
    optimizer = build_optimizer(harness.small_model(dtype), 1e-3)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == loss_scaled
