"""Crash-safe checkpoints: exact resume, pruning, fallback, best model, export."""

import json
import logging
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_factory import tiny_backbone

from train import checkpoints
from train.checkpoints import CheckpointManager
from train.checkpoints import CheckpointMismatchError
from train.checkpoints import CorruptCheckpointError
from train.checkpoints import export_preset
from whisper.whisper_audio_to_text import WhisperAudioToText
from whisper.whisper_backbone import WhisperBackbone
from whisper.whisper_tokenizer import WhisperTokenizer

FRAMES, TOKENS = 16, 6


@pytest.fixture
def make_task(english_keras_hub_assets):
    """`make_task(seed, hidden_dim=8)`: a tiny WhisperAudioToText with dropout
    (so its SeedGenerators matter) and tiny.en's tokenizer."""

    def make(seed, hidden_dim=8):
        backbone = tiny_backbone(
            seed=seed,
            hidden_dim=hidden_dim,
            intermediate_dim=16,
            dropout=0.2,
            max_encoder_sequence_length=FRAMES,
            max_decoder_sequence_length=TOKENS + 1,
        )
        tokenizer = WhisperTokenizer(**english_keras_hub_assets)
        return WhisperAudioToText(backbone, tokenizer=tokenizer)

    return make


def make_optimizer():
    return keras.optimizers.AdamW(learning_rate=1e-2, weight_decay=0.1)


def make_batch(seed):
    random = np.random.default_rng(seed)
    token_ids = random.integers(0, 50000, (2, TOKENS + 1)).astype("int32")
    inputs = {
        "encoder_features": random.standard_normal((2, FRAMES, 80)).astype("float32"),
        "decoder_token_ids": token_ids[:, :-1],
        "decoder_padding_mask": np.ones((2, TOKENS), "int32"),
    }
    return inputs, token_ids[:, 1:]


def train_step(model, optimizer, seed):
    """One real training step, dropout on; returns the loss."""
    inputs, targets = make_batch(seed)
    with tf.GradientTape() as tape:
        logits = model(inputs, training=True)
        loss = model.compute_loss(x=inputs, y=targets, y_pred=logits)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return float(loss)


def weights(model):
    """Every variable, SeedGenerator states included."""
    return [np.array(v) for v in model.variables]


def trained_weights(model):
    """What a preset holds: no SeedGenerator states."""
    return [np.array(v) for v in model.trainable_variables]


def assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def save_steps(manager, steps):
    return [manager.save(step, data_position=10 * step) for step in steps]


def test_restore_gives_identical_weights_and_next_step(tmp_path, make_task):
    model, optimizer = make_task(seed=1), make_optimizer()
    train_step(model, optimizer, seed=0)
    train_step(model, optimizer, seed=1)
    manager = CheckpointManager(tmp_path, model, optimizer)
    manager.save(2, data_position=7, extra={"epoch": 0, "examples": 4})
    saved = weights(model)
    next_loss = train_step(model, optimizer, seed=2)
    after_next_step = weights(model)

    fresh, fresh_optimizer = make_task(seed=99), make_optimizer()
    state = CheckpointManager(tmp_path, fresh, fresh_optimizer).restore_latest()

    assert (state.step, state.data_position) == (2, 7)
    assert state.extra == {"epoch": 0, "examples": 4}
    assert_same(weights(fresh), saved)
    assert int(fresh_optimizer.iterations) == 2
    # Same moments, iteration count and dropout masks: the same update.
    assert train_step(fresh, fresh_optimizer, seed=2) == next_loss
    assert_same(weights(fresh), after_next_step)


def test_keeps_the_newest_k_and_resumes_from_the_latest(tmp_path, make_task):
    model, optimizer = make_task(seed=1), make_optimizer()
    manager = CheckpointManager(tmp_path, model, optimizer, keep=2)
    paths = save_steps(manager, [100, 200, 300, 400])

    assert manager.checkpoints() == paths[2:]
    assert sorted(os.listdir(manager.checkpoint_dir)) == [
        "step-000000300",
        "step-000000400",
    ]
    assert manager.restore_latest().step == 400


def test_no_checkpoint_restores_nothing(tmp_path, make_task):
    manager = CheckpointManager(tmp_path, make_task(seed=1), make_optimizer())
    assert manager.restore_latest() is None


def test_a_crash_while_writing_leaves_the_previous_checkpoint(tmp_path, make_task, monkeypatch):
    model, optimizer = make_task(seed=1), make_optimizer()
    manager = CheckpointManager(tmp_path, model, optimizer, keep=1)
    save_steps(manager, [100])

    def crash(*args):
        raise KeyboardInterrupt("killed before publishing")

    monkeypatch.setattr(checkpoints, "_publish", crash)
    with pytest.raises(KeyboardInterrupt):
        manager.save(200, data_position=2000)
    monkeypatch.undo()

    leftovers = [n for n in os.listdir(manager.checkpoint_dir) if n.startswith(".")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".step-000000200.staging-")
    assert manager.restore_latest().step == 100
    # The next save clears what the crash left.
    save_steps(manager, [300])
    assert os.listdir(manager.checkpoint_dir) == ["step-000000300"]


def test_a_crash_between_the_renames_of_a_replacement_keeps_the_backup(tmp_path, make_task):
    model, optimizer = make_task(seed=1), make_optimizer()
    manager = CheckpointManager(tmp_path, model, optimizer)
    (path,) = save_steps(manager, [100])
    os.rename(path, path + ".replaced")  # as _publish leaves it mid-way

    assert manager.restore_latest().path == path + ".replaced"
    save_steps(manager, [100])
    assert os.listdir(manager.checkpoint_dir) == ["step-000000100"]


@pytest.mark.parametrize("damage", ["truncate", "flip_a_byte", "no_state"])
def test_a_damaged_latest_falls_back_to_the_previous_one(tmp_path, make_task, caplog, damage):
    model, optimizer = make_task(seed=1), make_optimizer()
    manager = CheckpointManager(tmp_path, model, optimizer)
    save_steps(manager, [100])
    at_100 = weights(model)
    train_step(model, optimizer, seed=0)
    latest = save_steps(manager, [200])[0]
    data = os.path.join(latest, "variables.data-00000-of-00001")
    if damage == "truncate":
        os.truncate(data, os.path.getsize(data) // 2)
    elif damage == "flip_a_byte":  # same size: TensorFlow's checksums catch it
        with open(data, "r+b") as file:
            file.seek(os.path.getsize(data) // 2)
            byte = file.read(1)
            file.seek(-1, os.SEEK_CUR)
            file.write(bytes([byte[0] ^ 0xFF]))
    else:
        os.remove(os.path.join(latest, "state.json"))

    with caplog.at_level(logging.WARNING, logger="train.checkpoints"):
        state = manager.restore_latest()

    assert state.step == 100
    assert_same(weights(model), at_100)
    assert "step-000000200 cannot be restored" in caplog.text


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(tmp_path, make_task):
    manager = CheckpointManager(tmp_path, make_task(seed=1), make_optimizer())
    for path in save_steps(manager, [100, 200]):
        os.remove(os.path.join(path, "variables.index"))
    with pytest.raises(CorruptCheckpointError, match="No checkpoint could be restored"):
        manager.restore_latest()


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path, make_task):
    save_steps(CheckpointManager(tmp_path, make_task(seed=1), make_optimizer()), [100])
    wider_model = make_task(seed=1, hidden_dim=16)
    wider = CheckpointManager(tmp_path, wider_model, make_optimizer())
    with pytest.raises(CheckpointMismatchError, match="another configuration"):
        wider.restore_latest()


def test_only_the_chief_writes(tmp_path, make_task):
    manager = CheckpointManager(tmp_path, make_task(seed=1), make_optimizer(), is_chief=False)
    assert manager.save(100, data_position=1) is None
    assert manager.save_best(0.1, step=100) is False
    assert os.listdir(tmp_path) == []


def test_best_is_replaced_only_by_a_lower_wer(tmp_path, make_task):
    model = make_task(seed=1)
    manager = CheckpointManager(tmp_path, model, make_optimizer())
    assert manager.best_wer is None

    assert manager.save_best(0.5, step=10)
    best_weights = trained_weights(model.backbone)
    model.backbone.variables[1].assign(model.backbone.variables[1] + 1.0)
    assert not manager.save_best(0.6, step=20)
    assert not manager.save_best(0.5, step=30)

    reopened = CheckpointManager(tmp_path, model, make_optimizer())
    assert reopened.best_wer == 0.5
    with open(os.path.join(tmp_path, "best", "best.json")) as file:
        assert json.load(file) == {"wer": 0.5, "step": 10}
    loaded = WhisperBackbone.from_preset(os.path.join(tmp_path, "best"))
    assert_same(trained_weights(loaded), best_weights)

    assert reopened.save_best(0.25, step=40)
    assert reopened.best_wer == 0.25
    assert sorted(n for n in os.listdir(tmp_path)) == ["best"]


def test_export_loads_as_backbone_and_as_task(tmp_path, make_task):
    model = make_task(seed=1)
    preset_dir = tmp_path / "export" / "whisper_finetuned"
    export_preset(model, preset_dir)
    # Exporting again replaces the preset.
    model.backbone.variables[1].assign(model.backbone.variables[1] + 1.0)
    assert export_preset(model, preset_dir) == str(preset_dir)

    assert os.listdir(tmp_path / "export") == ["whisper_finetuned"]
    backbone = WhisperBackbone.from_preset(str(preset_dir))
    assert_same(trained_weights(backbone), trained_weights(model.backbone))
    task = WhisperAudioToText.from_preset(str(preset_dir))
    assert_same(trained_weights(task.backbone), trained_weights(model.backbone))
    assert task.tokenizer.eos_token_id == 50256


@pytest.mark.slow
def test_checkpoints_move_between_mirrored_and_plain_variables():
    script = os.path.join(os.path.dirname(__file__), "mirrored_checkpoint_check.py")
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    completed = subprocess.run(
        [sys.executable, script],
        capture_output=True,
        text=True,
        cwd=repository,
        env={**os.environ, "PYTHONPATH": repository},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "restored under _DefaultDistributionStrategy" in completed.stdout
    assert "restored under MirroredStrategy" in completed.stdout
