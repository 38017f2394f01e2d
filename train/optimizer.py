"""AdamW, its learning-rate schedule, and float16 loss scaling.

`build_optimizer(model, learning_rate, ...)` gives the optimizer the `Trainer`
applies: AdamW (`ReplicaSummedAdamW`, for gradients the trainer has already
summed over replicas) whose weight decay skips biases, layer-norm scales and
offsets and embedding tables, wrapped in a `LossScaleOptimizer` when the model
computes in float16. `WarmupDecaySchedule` is its learning rate: a linear
warmup to the peak, then a linear or cosine decay to a floor.

Gradient clipping is not here: the `Trainer` clips by the global norm of the
gradient summed over replicas, which it also reports.
"""

import math

import keras
from keras import ops

from train.choices import SCHEDULE_KINDS
from train.fine_tuning import trained_variables


@keras.saving.register_keras_serializable(package="train")
class WarmupDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to the peak, then decay to a floor.

    Step `s` (0 for the first update) of the warmup uses
    `peak_learning_rate * (s + 1) / (warmup_steps + 1)`, so that no update is
    spent at rate 0; the rate reaches the peak at `warmup_steps`, then falls,
    linearly or along a half cosine, to `final_learning_rate_fraction *
    peak_learning_rate` at `total_steps`, and stays there.

    Args:
        peak_learning_rate: float. The rate at the end of warmup.
        warmup_steps: int. Steps of the warmup; 0 starts at the peak.
        total_steps: int. The step where the decay ends.
        kind: "linear" or "cosine", the shape of the decay.
        final_learning_rate_fraction: float in [0, 1]. The floor, as a
            fraction of the peak.

    Example:

    ```python
    from train.optimizer import WarmupDecaySchedule

    schedule = WarmupDecaySchedule(1e-3, warmup_steps=10, total_steps=100)
    assert abs(float(schedule(10)) - 1e-3) < 1e-9
    ```
    """

    def __init__(
        self,
        peak_learning_rate,
        warmup_steps,
        total_steps,
        kind="linear",
        final_learning_rate_fraction=0.0,
    ):
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"Unknown schedule kind {kind!r}: use one of {SCHEDULE_KINDS}.")
        if not peak_learning_rate > 0:
            raise ValueError(f"peak_learning_rate must be positive, got {peak_learning_rate!r}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps!r}."
            )
        if not 0.0 <= final_learning_rate_fraction <= 1.0:
            raise ValueError(
                "final_learning_rate_fraction must be in [0, 1], got "
                f"{final_learning_rate_fraction!r}."
            )
        self.peak_learning_rate = peak_learning_rate
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.kind = kind
        self.final_learning_rate_fraction = final_learning_rate_fraction

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        floor = peak * self.final_learning_rate_fraction
        warmup = peak * (step + 1.0) / (self.warmup_steps + 1.0)
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        if self.kind == "linear":
            remaining = 1.0 - progress
        else:
            remaining = 0.5 * (1.0 + ops.cos(math.pi * progress))
        decayed = floor + (peak - floor) * remaining
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "kind": self.kind,
            "final_learning_rate_fraction": self.final_learning_rate_fraction,
        }


# The Trainer sums gradients over replicas itself, before clipping, and the
# optimizer below relies on the hook that Keras's TensorFlow optimizers sum
# them with. Fail loudly if a Keras upgrade renames it, rather than let every
# gradient be summed a second time.
if not hasattr(keras.optimizers.AdamW, "_all_reduce_sum_gradients"):
    raise ImportError(
        "keras.optimizers.AdamW no longer has _all_reduce_sum_gradients; "
        "ReplicaSummedAdamW in train/optimizer.py must follow this Keras version."
    )


@keras.saving.register_keras_serializable(package="train")
class ReplicaSummedAdamW(keras.optimizers.AdamW):
    """AdamW that applies gradients already summed over replicas.

    Keras's TensorFlow optimizers sum each replica's gradients inside
    `apply`. The `Trainer` sums them itself beforehand, with one all-reduce,
    so that it can measure and clip the norm of the gradient of the whole
    global batch; this optimizer then applies them as they are, on every
    replica alike. Use it only with gradients that are already summed.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)


def build_optimizer(
    model,
    learning_rate,
    *,
    weight_decay=0.01,
    beta_1=0.9,
    beta_2=0.98,
    epsilon=1e-6,
):
    """The optimizer the `Trainer` applies, for `model`'s variables.

    Call it under the strategy's `scope()`, where the model was built: the
    optimizer's slots must be distributed like the model's weights.

    Args:
        model: the model to train, its frozen layers and adapters chosen
            (`train.fine_tuning`); the variables it trains decide which
            weights decay (see `no_weight_decay_variables`) and its compute
            dtype whether the loss is scaled (float16 only).
        learning_rate: a float or a `LearningRateSchedule` such as
            `WarmupDecaySchedule`.
        weight_decay: float. Decoupled decay per step, times the learning
            rate, of the weights that decay.
        beta_1, beta_2, epsilon: Adam's moment decays and denominator term.
    """
    optimizer = ReplicaSummedAdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
    )
    optimizer.exclude_from_weight_decay(var_list=no_weight_decay_variables(model))
    if compute_dtype(model) == "float16":
        # float16 gradients underflow to zero unless the loss is scaled up;
        # the scale adapts, halving whenever a gradient overflows (that step
        # is skipped) and doubling after a run of finite steps.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def no_weight_decay_variables(model):
    """The variables `model` trains that weight decay leaves alone.

    Only matrices (dense and convolution kernels) decay, the rule of BERT's
    and nanoGPT's recipes. Biases and layer-norm scales and offsets are vectors that
    shift or rescale features rather than mix them, and pulling a layer-norm
    scale toward zero fights the normalization. The token and position
    embedding tables (the token table is also the tied output head) are
    excluded too: decay would erode the pretrained rows of tokens and
    positions that fine-tuning data seldom or never reaches (positions
    beyond its longest transcript get no gradient at all).
    """
    return [
        variable
        for variable in trained_variables(model)
        if len(variable.shape) < 2 or "embedding" in variable.path
    ]


def compute_dtype(model):
    """The dtype `model` computes in: its backbone's policy when it has one."""
    return getattr(model, "backbone", model).dtype_policy.compute_dtype
