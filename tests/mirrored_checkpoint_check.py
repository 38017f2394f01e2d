"""Checkpoints across tf.distribute: run by test_checkpoints.py in a process of
its own, since the two logical CPUs must exist before TensorFlow starts.

Trains two steps under MirroredStrategy, saves, then restores into plain
variables and into mirrored ones; exits non-zero if anything differs.
"""

import sys
import tempfile

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from model_factory import tiny_task  # noqa: E402

from train.checkpoints import CheckpointManager  # noqa: E402


def make_task(seed):
    return tiny_task(
        64,
        seed=seed,
        hidden_dim=8,
        intermediate_dim=16,
        dropout=0.1,
        max_encoder_sequence_length=16,
        max_decoder_sequence_length=8,
    )


def values(variables):
    return [np.array(v.numpy()) for v in variables]


def main():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = make_task(seed=1)
        optimizer = keras.optimizers.AdamW(1e-2)
        optimizer.build(model.trainable_variables)
    inputs = {
        "encoder_features": np.random.rand(4, 16, 80).astype("float32"),
        "decoder_token_ids": np.ones((4, 7), "int32"),
        "decoder_padding_mask": np.ones((4, 7), "int32"),
    }
    dataset = tf.data.Dataset.from_tensors((inputs, inputs["decoder_token_ids"]))
    batches = iter(strategy.experimental_distribute_dataset(dataset.repeat()))

    @tf.function
    def train_step(x, y):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = model.compute_loss(x=x, y=y, y_pred=logits)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))

        strategy.run(replica_step, (x, y))

    train_step(*next(batches))
    train_step(*next(batches))
    run_dir = tempfile.mkdtemp()
    with strategy.scope():
        CheckpointManager(run_dir, model, optimizer).save(2, data_position=2)

    for scope in (tf.distribute.get_strategy(), strategy):
        with scope.scope():
            fresh, fresh_optimizer = make_task(seed=9), keras.optimizers.AdamW(1e-2)
            CheckpointManager(run_dir, fresh, fresh_optimizer).restore_latest()
        for saved, restored in (
            (values(model.variables), values(fresh.variables)),
            (values(optimizer.variables), values(fresh_optimizer.variables)),
        ):
            for a, b in zip(saved, restored, strict=True):
                np.testing.assert_array_equal(a, b)
        print(f"restored under {type(scope).__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
