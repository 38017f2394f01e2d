"""What a run trains: LoRA adapters alone, or all but frozen layers; exports merge.

Real `Trainer` steps on a small random Whisper (train_step_harness), in this
process; keras_hub loads the merged export in a process of its own; the
The docs' commands run as `python -m train` on tiny.en, shortened by debug=fast.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
import train_step_harness as harness
from doc_commands import module_arguments
from train_cli import assert_trained
from train_cli import run_train

from train.checkpoints import CheckpointManager
from train.choices import LORA_TARGETS
from train.fine_tuning import FineTuning
from train.fine_tuning import footprint
from whisper import WhisperBackbone

ALL_TARGETS = FineTuning(lora_rank=4, lora_alpha=8, lora_targets=LORA_TARGETS)


@pytest.fixture(scope="module")
def one_device():
    return tf.distribute.OneDeviceStrategy("/cpu:0")


def is_adapter(variable):
    return "/lora_" in variable.path


def train(trainer, first_step, num_steps):
    batches = harness.global_batches(num_steps=first_step + num_steps, global_batch_size=4)
    for batch in harness.distribute(trainer.strategy, batches[first_step:]):
        trainer.train_step(batch)


def snapshot(variables):
    return {v.path: v.numpy().copy() for v in variables}


def changed(before, variables):
    return {v.path for v in variables if not np.array_equal(before[v.path], v.numpy())}


@pytest.fixture(scope="module")
def lora_run(one_device):
    """A LoRA trainer of every target after 3 steps, and its weights before them."""
    trainer = harness.build_trainer(one_device, fine_tuning=ALL_TARGETS, jit_compile=False)
    before = snapshot(trainer.model.weights)
    train(trainer, 0, 3)
    return trainer, before


def test_lora_trains_the_adapters_alone_and_the_rest_stays_to_the_bit(lora_run):
    trainer, before = lora_run
    weights = trainer.model.weights
    adapters = {v.path for v in weights if is_adapter(v)}
    # 8 projections (self q, k, v, out per stack; cross q, k, v, out) and 2
    # feedforward layers per stack: 14 (a, b) pairs.
    assert len(adapters) == 2 * (4 + 8 + 2 * 2)
    assert {v.path for v in trainer.trainable_variables} == adapters
    trained = changed(before, weights)
    # Every b starts at zero and moves; frozen weights are bit-identical.
    assert {path for path in adapters if path.endswith("_b")} <= trained <= adapters


def test_the_optimizer_holds_slots_for_the_adapters_alone(lora_run):
    trainer, _ = lora_run
    slots = [v for v in trainer.optimizer.variables if len(v.shape)]
    adapters = [v for v in trainer.model.weights if is_adapter(v)]
    # Adam's two moments per adapter, each named after its variable.
    assert len(slots) == 2 * len(adapters)
    assert all("lora_" in v.path for v in slots)


def test_the_footprint_counts_the_adapters_and_their_slots(lora_run, one_device):
    full = footprint_of(harness.build_trainer(one_device, jit_compile=False))
    lora = footprint_of(lora_run[0])
    # Encoder 4 + decoder 8 attention projections, (16 + 16) x rank 4 each;
    # 2 + 2 feedforward layers, (16 + 32) x 4.
    assert lora["trainable_parameters"] == 12 * 32 * 4 + 4 * 48 * 4 == 2304
    assert lora["parameters"] == full["parameters"] + lora["trainable_parameters"]
    # Adam's two float32 moments per trained parameter, plus the same
    # counters (iteration, learning rate) as full fine-tuning's.
    counters = full["optimizer_slot_bytes"] - 8 * full["trainable_parameters"]
    assert lora["optimizer_slot_bytes"] == 8 * lora["trainable_parameters"] + counters


def test_lora_trains_a_small_share_of_the_default_architecture():
    """configs/model/tiny_random.yaml's model, LoRA rank 8 on query and value."""
    import keras

    from train.optimizer import build_optimizer
    from whisper import WhisperAudioToText

    architecture = {
        "vocabulary_size": 51864,
        "num_layers": 2,
        "num_heads": 4,
        "hidden_dim": 128,
        "intermediate_dim": 512,
        "max_encoder_sequence_length": 3000,
        "max_decoder_sequence_length": 448,
    }
    footprints = {}
    for name, fine_tuning in {"full": FineTuning(), "lora": FineTuning(lora_rank=8)}.items():
        keras.utils.set_random_seed(0)
        model = WhisperAudioToText(WhisperBackbone(**architecture))
        fine_tuning.apply(model)
        optimizer = build_optimizer(model, 1e-3)
        optimizer.build(model.trainable_variables)
        footprints[name] = footprint(model, optimizer)
    print(footprints)
    # 12 projections (2 encoder layers x q, v; 2 decoder layers x self and
    # cross q, v) of (128 + 128) x 8.
    assert footprints["lora"]["trainable_parameters"] == 12 * 256 * 8
    share = footprints["lora"]["trainable_parameters"] / footprints["full"]["trainable_parameters"]
    assert share < 0.005
    assert (
        footprints["lora"]["optimizer_slot_bytes"]
        < 0.005 * (footprints["full"]["optimizer_slot_bytes"])
    )


def footprint_of(trainer):
    return footprint(trainer.model, trainer.optimizer)


def test_the_merged_export_gives_the_unmerged_models_outputs(lora_run, tmp_path):
    trainer, _ = lora_run
    backbone = trainer.model.backbone
    backbone.save_to_preset(str(tmp_path / "preset"))
    merged = WhisperBackbone.from_preset(str(tmp_path / "preset"))
    assert not any(is_adapter(v) for v in merged.weights)
    inputs = backbone_inputs()
    difference = max_difference(backbone.predict_on_batch(inputs), merged.predict_on_batch(inputs))
    assert difference <= 1e-5


def test_keras_hub_loads_the_merged_export_with_the_same_outputs(
    lora_run, tmp_path, keras_hub_oracle
):
    backbone = lora_run[0].model.backbone
    preset_dir = str(tmp_path / "preset")
    backbone.save_to_preset(preset_dir)
    np.savez(tmp_path / "inputs.npz", **backbone_inputs())
    keras_hub_oracle("run", preset_dir, tmp_path / "inputs.npz", tmp_path / "outputs.npz")
    theirs = dict(np.load(tmp_path / "outputs.npz"))
    assert max_difference(backbone.predict_on_batch(backbone_inputs()), theirs) <= 1e-5


def backbone_inputs():
    random = np.random.default_rng(3)
    return {
        "encoder_features": random.normal(size=(2, harness.FRAMES, 80)).astype("float32"),
        "decoder_token_ids": random.integers(
            0, harness.VOCABULARY_SIZE, (2, harness.DECODER_LENGTH)
        ).astype("int32"),
        "decoder_padding_mask": np.ones((2, harness.DECODER_LENGTH), "int32"),
    }


def max_difference(ours, theirs):
    return max(float(np.max(np.abs(np.asarray(ours[k]) - theirs[k]))) for k in theirs)


def test_a_resumed_lora_run_continues_exactly(one_device, tmp_path):
    def build():
        return harness.build_trainer(one_device, fine_tuning=ALL_TARGETS, jit_compile=False)

    killed = build()
    train(killed, 0, 2)
    CheckpointManager(tmp_path, killed.model, killed.optimizer).save(2, data_position=2)
    train(killed, 2, 2)

    resumed = build()
    CheckpointManager(tmp_path, resumed.model, resumed.optimizer).restore_latest()
    train(resumed, 2, 2)
    for ours, theirs in zip(killed.model.variables, resumed.model.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)


def test_frozen_layers_and_token_embedding_stay_and_get_no_slots(one_device):
    fine_tuning = FineTuning(
        freeze_encoder_layers=1, freeze_decoder_layers=1, freeze_token_embedding=True
    )
    trainer = harness.build_trainer(
        one_device, fine_tuning=fine_tuning, num_layers=2, jit_compile=False
    )
    weights = trainer.model.weights
    before = snapshot(weights)
    train(trainer, 0, 2)

    frozen_prefixes = ("encoder/layer_0/", "decoder/layer_0/", "decoder/token_embedding/")
    frozen = {v.path for v in weights if v.path.startswith(frozen_prefixes)}
    # Kernels, biases and norms of two layers (the decoder's cross-attends); the table.
    assert len(frozen) == 13 + 21 + 1
    trained = changed(before, weights)
    assert not trained & frozen
    # Everything else trains (the encoder's sinusoid table never does).
    assert trained == {v.path for v in weights if v.trainable} - frozen
    assert not {v.path for v in trainer.trainable_variables} & frozen
    slot_paths = [v.path for v in trainer.optimizer.variables]
    assert not [path for path in slot_paths if "layer_0" in path or "token_embedding" in path]


def test_lora_skips_frozen_layers(one_device):
    fine_tuning = FineTuning(freeze_encoder=True, freeze_decoder_layers=1, lora_rank=2)
    trainer = harness.build_trainer(
        one_device, fine_tuning=fine_tuning, num_layers=2, jit_compile=False
    )
    # query and value of decoder layer_1's self- and cross-attention.
    assert sorted(v.path for v in trainer.trainable_variables) == [
        f"decoder/layer_1/{attention}/lora_{projection}_{part}"
        for attention in ("cross_attention", "self_attention")
        for projection in ("query", "value")
        for part in "ab"
    ]


def test_layer_counts_beyond_the_model_are_refused():
    model = harness.small_model()
    with pytest.raises(ValueError, match=r"freeze_decoder_layers must be in \[0, 1\], got 2"):
        FineTuning(freeze_decoder_layers=2).apply(model)


def docs_command(key):
    """The arguments of the docs' `python -m train` line that sets `key`."""
    (arguments,) = [args for args in module_arguments("train") if any(key in a for a in args)]
    return arguments


def run_footprint(run_dir):
    record = json.loads((run_dir / "run.json").read_text())
    return {key: record[key] for key in ("trainable_parameters", "optimizer_slot_bytes")}


@pytest.mark.slow
def test_the_documented_lora_command_trains_adapters_and_exports_a_plain_preset(tmp_path):
    command = [
        *docs_command("model.lora.rank"),
        "model.lora.alpha=16",
        "model.lora.targets=[query,value,feedforward_output]",
        "debug=fast",
        "tracker=console",
        f"run_dir={tmp_path}",
    ]
    completed = run_train(*command)
    assert_trained(completed, tmp_path)
    # tiny.en, rank 8: 4 encoder layers' q, v (384 + 384) and fc2 (1536 +
    # 384), 4 decoder layers' self and cross q, v and fc2. Two float32
    # moments each, and the int64 step (the schedule computes the rate).
    trainable = 4 * (2 * 768 + 1920) * 8 + 4 * (4 * 768 + 1920) * 8
    assert run_footprint(tmp_path) == {
        "trainable_parameters": trainable,
        "optimizer_slot_bytes": 8 * trainable + 8,
    }
    assert f"Training {trainable:,} of " in completed.stdout
    preset = WhisperBackbone.from_preset(str(tmp_path / "preset"))
    # Resuming exactly is test_a_resumed_lora_run_continues_exactly's.
    assert not any(is_adapter(v) for v in preset.weights)


@pytest.mark.slow
def test_the_documented_freezing_command_trains_the_rest(tmp_path):
    command = docs_command("model.freeze_encoder_layers")
    completed = run_train(*command, "debug=fast", "tracker=console", f"run_dir={tmp_path}")
    assert_trained(completed, tmp_path)
    # tiny.en less 2 of 4 encoder and decoder layers and the token table.
    assert run_footprint(tmp_path) == {
        "trainable_parameters": 8_988_672,
        "optimizer_slot_bytes": 8 * 8_988_672 + 8,
    }
