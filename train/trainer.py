"""The distributed training step of a `WhisperAudioToText`.

One `Trainer.train_step(batch)` is one optimizer update:

1. Every replica counts its target tokens; one all-reduce gives the number of
   target tokens in the whole global batch.
2. Every replica splits its batch into `gradient_accumulation_steps`
   micro-batches and, one after another, computes the gradient of
   `sum of token losses / global target tokens` for each, adding them up in
   float32. Summed over micro-batches and replicas this is the gradient of
   the mean loss per target token of the global batch, however the batch is
   split.
3. One all-reduce sums the gradients over replicas; the sum is clipped by
   its global norm and applied by the optimizer on every replica alike,
   unless the loss or the gradient is not finite: then the update is skipped
   (weights, optimizer moments and schedule untouched) and reported, and
   `SkippedUpdates` stops a run whose updates keep being skipped.

The forward and backward passes can be compiled with XLA (`jit_compile`).
Keras's `fit` is not used: it breaks under MultiWorkerMirroredStrategy
(keras-team/keras#20585), and it clips each replica's gradient separately.
"""

import operator

import keras
import tensorflow as tf

from data_pipelines.featurizer import with_features_from_audio
from train.choices import REMATERIALIZATION_MODES
from train.fine_tuning import trained_variables
from whisper.whisper_audio_to_text import target_mask
from whisper.whisper_audio_to_text import token_cross_entropy


class Trainer:
    """Owns the distributed train step of a model and its optimizer.

    Build the model and the optimizer (`train.optimizer.build_optimizer`)
    under `strategy.scope()`, after choosing what trains
    (`train.fine_tuning.FineTuning(...).apply(model)`: frozen layers, LoRA),
    then hand them over. The trainer trains `fine_tuning.trained_variables`
    alone: frozen variables get no gradient, no backward pass (where nothing
    below them trains) and no optimizer slots, which it builds under the
    scope too, before the first step. Feed `train_step` the elements of a
    dataset made by
    `strategy.distribute_datasets_from_function`, each an `(x, y)` pair:
    `x` the model's inputs ("encoder_features", "decoder_token_ids",
    "decoder_padding_mask"; or "encoder_audio", 16 kHz waveforms that the
    compiled step turns into features, see `data.features_in_step`), `y` the
    target token ids; targets where
    "decoder_padding_mask" is 0 are padding and count for nothing, as do
    targets of `IGNORED_TARGET_ID` (a previous-text prompt's). Each
    replica's batch must split evenly into `gradient_accumulation_steps`
    micro-batches.

    Checkpointing, evaluation and logging belong elsewhere: they reach the
    state through `trainer.model` and `trainer.optimizer`.

    Args:
        strategy: the `tf.distribute.Strategy` (see `train.strategy`).
        model: a `WhisperAudioToText` built under `strategy.scope()`.
        optimizer: a Keras optimizer built under `strategy.scope()` for
            gradients summed over replicas (`build_optimizer`'s).
        gradient_accumulation_steps: int. Micro-batches per replica batch,
            run one after another so that only one micro-batch's activations
            are alive at a time.
        clip_norm: float or None. Largest global norm of the gradient; a
            larger gradient is scaled down to it.
        jit_compile: bool. Compile the forward and backward passes with XLA.
        rematerialize: what the backward pass recomputes instead of the
            forward pass keeping it (sets the model's stacks to do so): "none";
            "attention", each attention's scores and probabilities (the bulk of
            the memory of 30 s windows, little compute); "layers", all of each
            encoder and decoder layer but its inputs (one more forward pass).

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from train.optimizer import WarmupDecaySchedule, build_optimizer
    from train.strategy import build_strategy
    from train.trainer import Trainer
    from whisper import WhisperAudioToText, WhisperBackbone

    strategy = build_strategy("default")
    with strategy.scope():
        backbone = WhisperBackbone(
            vocabulary_size=64, num_layers=1, num_heads=2, hidden_dim=16,
            intermediate_dim=32, max_encoder_sequence_length=20,
            max_decoder_sequence_length=8,
        )
        model = WhisperAudioToText(backbone)
        optimizer = build_optimizer(model, WarmupDecaySchedule(1e-3, 10, 100))
    trainer = Trainer(strategy, model, optimizer, clip_norm=1.0)

    def make_dataset(input_context):
        x = {
            "encoder_features": np.zeros((2, 20, 80), "float32"),
            "decoder_token_ids": np.ones((2, 8), "int32"),
            "decoder_padding_mask": np.ones((2, 8), "int32"),
        }
        return tf.data.Dataset.from_tensors((x, np.ones((2, 8), "int32"))).repeat(2)

    for batch in strategy.distribute_datasets_from_function(make_dataset):
        metrics = trainer.train_step(batch)  # {"loss": 4.16, "grad_norm": ...}
    ```
    """

    def __init__(
        self,
        strategy,
        model,
        optimizer,
        *,
        gradient_accumulation_steps=1,
        clip_norm=None,
        jit_compile=True,
        rematerialize="none",
    ):
        steps = gradient_accumulation_steps
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(
                "gradient_accumulation_steps must be a positive int, got "
                f"{gradient_accumulation_steps!r}."
            )
        if rematerialize not in REMATERIALIZATION_MODES:
            raise ValueError(
                f"rematerialize must be one of {REMATERIALIZATION_MODES}, got {rematerialize!r}."
            )
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"clip_norm must be positive or None, got {clip_norm!r}.")
        _check_created_in_scope(strategy, model, optimizer)
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.clip_norm = clip_norm
        for stack in (model.backbone.encoder, model.backbone.decoder):
            stack.set_rematerialization(
                layers=rematerialize == "layers", attention=rematerialize == "attention"
            )
        self.trainable_variables = trained_variables(model)
        if not optimizer.built:
            # A custom loop fails ("You must feed a value for placeholder
            # tensor") unless the slots exist, distributed, before step one.
            with strategy.scope():
                optimizer.build(self.trainable_variables)
        # XLA compiles one micro-batch's forward and backward pass; the loop
        # over micro-batches stays outside, since a whole training computation
        # inside an XLA while loop ran about 3x slower on CPU.
        self._compiled_micro_batch_gradients = tf.function(
            self._micro_batch_gradients, jit_compile=jit_compile
        )
        self._distributed_step = tf.function(self._run_distributed_step)

    def trace_once_for(self, element_spec):
        """Traces the step once for every batch that `element_spec` (the
        distributed dataset's, `(x, y, ...)`) allows, instead of once per
        batch shape: clip-length windows and token rows change shape from
        batch to batch, and each trace takes seconds. XLA still compiles
        each shape it meets, once."""
        self._distributed_step = tf.function(
            self._run_distributed_step, input_signature=[tuple(element_spec[:2])]
        )

    def train_step(self, distributed_batch):
        """One optimizer update; returns its metrics as Python floats.

        "loss": mean cross-entropy per target token of the global batch,
        "learning_rate": the rate this update used, "grad_norm": global norm
        of the gradient before clipping, "target_tokens" and "examples":
        counts in the global batch, "skipped_update": 1.0 when the loss or
        the gradient was not finite and the update was skipped (under
        float16, the loss scaler's overflow skips too), else 0.0.

        A batch may carry a third element (example information for the
        host, see `train.data`); only `(x, y)` reaches the replicas.
        """
        metrics = self._distributed_step(distributed_batch[:2])
        return {name: float(value) for name, value in metrics.items()}

    def _run_distributed_step(self, distributed_batch):
        metrics = self.strategy.run(self._replica_step, args=(distributed_batch,))
        # Every replica computed the same metrics from all-reduced sums.
        return {
            name: self.strategy.experimental_local_results(value)[0]
            for name, value in metrics.items()
        }

    def _replica_step(self, batch):
        x, y = batch
        replica = tf.distribute.get_replica_context()
        mask = target_mask(y, x["decoder_padding_mask"])
        num_examples = tf.cast(tf.shape(mask)[0], "float32")
        global_tokens, global_examples = replica.all_reduce(
            tf.distribute.ReduceOp.SUM, [tf.reduce_sum(mask), num_examples]
        )
        micro_x, micro_y = self._split_into_micro_batches(x, y)
        gradients, loss = self._accumulate_local_gradients(micro_x, micro_y, global_tokens)
        *gradients, loss = replica.all_reduce(tf.distribute.ReduceOp.SUM, [*gradients, loss])
        gradients, grad_norm = self._clip(gradients)
        # Read before `apply`, which advances the schedule.
        learning_rate = tf.cast(self.optimizer.learning_rate, "float32")
        finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)
        self._apply_if(finite, gradients)
        return {
            "loss": loss,
            "learning_rate": learning_rate,
            "grad_norm": grad_norm,
            "target_tokens": global_tokens,
            "examples": global_examples,
            "skipped_update": 1.0 - tf.cast(finite, "float32"),
        }

    def _apply_if(self, finite, gradients):
        """Applies `gradients` on every replica when `finite` (the same on all).

        The loss-scaling optimizer (float16) skips non-finite updates itself,
        and lowers its scale. Elsewhere the condition must be taken in a
        cross-replica context under strategies whose `apply` merges replicas
        (MirroredStrategy): a branch that merges inside a replica-context
        condition is not supported.
        """
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            self.optimizer.apply(gradients, self.trainable_variables)
            return

        def apply(*gradients):
            self.optimizer.apply(list(gradients), self.trainable_variables)
            return tf.constant(True)

        def apply_on_every_replica(strategy, finite, gradients):
            def apply_everywhere():
                strategy.extended.call_for_each_replica(apply, args=tuple(gradients))
                return tf.constant(True)

            # Every replica computed `finite` from all-reduced sums: take one.
            finite = strategy.experimental_local_results(finite)[0]
            tf.cond(finite, apply_everywhere, lambda: tf.constant(False))

        replica = tf.distribute.get_replica_context()
        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            tf.cond(finite, lambda: apply(*gradients), lambda: tf.constant(False))
        else:
            replica.merge_call(apply_on_every_replica, args=(finite, gradients))

    def _split_into_micro_batches(self, x, y):
        """(batch, ...) tensors as (accumulation steps, micro-batch, ...)."""
        steps = self.gradient_accumulation_steps
        # Unknown when traced for a multi-worker dataset's element_spec; the
        # config checks (train.validation) refuse a batch that does not split.
        if y.shape[0] is not None and y.shape[0] % steps:
            raise ValueError(
                f"Each replica's batch must split into gradient_accumulation_steps="
                f"{steps} equal micro-batches; got a batch of {y.shape[0]}."
            )

        def split(tensor):
            shape = tf.shape(tensor)
            return tf.reshape(tensor, tf.concat([[steps, shape[0] // steps], shape[1:]], 0))

        return tf.nest.map_structure(split, (x, y))

    def _accumulate_local_gradients(self, micro_x, micro_y, global_tokens):
        """This replica's share of the gradient and the loss, in float32."""
        if self.gradient_accumulation_steps == 1:
            # No accumulators: one copy of the gradient fewer in memory.
            return self._float32_gradients(0, micro_x, micro_y, global_tokens)
        gradients = [tf.zeros(v.shape, "float32") for v in self.trainable_variables]
        loss = tf.zeros((), "float32")
        for index in tf.range(self.gradient_accumulation_steps):
            # One micro-batch at a time: overlapping them would keep several
            # micro-batches' activations alive, which accumulation avoids.
            tf.autograph.experimental.set_loop_options(parallel_iterations=1)
            micro_gradients, micro_loss = self._float32_gradients(
                index, micro_x, micro_y, global_tokens
            )
            gradients = [total + gradient for total, gradient in zip(gradients, micro_gradients)]
            loss += micro_loss
        return gradients, loss

    def _float32_gradients(self, index, micro_x, micro_y, global_tokens):
        """Micro-batch `index`'s gradients, dense and in float32, and its loss."""
        x, y = tf.nest.map_structure(operator.itemgetter(index), (micro_x, micro_y))
        gradients, loss = self._compiled_micro_batch_gradients(x, y, global_tokens)
        # convert_to_tensor densifies sparse (embedding lookup) gradients.
        return [tf.cast(tf.convert_to_tensor(g), "float32") for g in gradients], loss

    def _micro_batch_gradients(self, x, y, global_tokens):
        # Only the trained variables are watched. With a frozen encoder, no
        # encoder operation touches a watched value, so the tape records none
        # of them and the encoder runs forward only.
        variables = [v.value for v in self.trainable_variables]  # the tf.Variables
        # Waveforms from a `data.features_in_step` pipeline become features
        # here, inside the compiled step; nothing to differentiate.
        x = with_features_from_audio(x, self.model.audio_converter)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(variables)
            logits = self.model(x, training=True)
            mask = target_mask(y, x["decoder_padding_mask"])
            # token_cross_entropy averages over this micro-batch's tokens;
            # weighting by its share of the global tokens turns the sum over
            # micro-batches and replicas into the global mean.
            share = tf.reduce_sum(mask) / tf.maximum(global_tokens, 1.0)
            loss = token_cross_entropy(y, logits, mask) * share
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(
            scaled_loss,
            variables,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        return gradients, loss

    def _clip(self, gradients):
        """Clips the summed gradient by its global norm; returns the norm too.

        Under float16 loss scaling the gradients are still scaled here (the
        optimizer unscales them), so the norm is measured and capped in
        scaled units.
        """
        scale = self._loss_scale()
        norm = tf.linalg.global_norm(gradients)
        if self.clip_norm is not None:
            gradients, _ = tf.clip_by_global_norm(gradients, self.clip_norm * scale, use_norm=norm)
        return gradients, norm / scale

    def _loss_scale(self):
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            return tf.cast(self.optimizer.dynamic_scale, "float32")
        return tf.constant(1.0)


def _check_created_in_scope(strategy, model, optimizer):
    """Raises unless the model and optimizer belong to `strategy`.

    Variables made outside `strategy.scope()` live on one device only, and
    the failure they cause inside `strategy.run` names neither.
    """
    for owner, variable in (
        ("model", model.weights[0]),
        ("optimizer", optimizer.iterations),
    ):
        if not strategy.extended.variable_created_in_scope(variable.value):
            raise ValueError(
                f"The {owner} was not built under this strategy's scope: create "
                "the model and the optimizer inside `with strategy.scope():`."
            )
