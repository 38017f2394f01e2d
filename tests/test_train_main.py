"""The recipe in-process: Hydra composition, validation, a run and its resume.

The command-line runs of every group are in test_train_cli.py."""

import json
import os
import pathlib
import re

import pytest
import tensorflow as tf
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from train.__main__ import run
from train.config import compose_train_config
from train.data import build_sources
from train.validation import validate
from whisper import WhisperAudioToText
from whisper import WhisperBackbone
from whisper import preset_handles


@pytest.mark.parametrize("preset", sorted(WhisperBackbone.presets))
def test_every_builtin_preset_composes(preset, monkeypatch):
    # Validation downloads nothing; online (its hub reachable), a built-in
    # preset is allowed.
    monkeypatch.delenv("WHISPER_KERAS_OFFLINE")
    monkeypatch.setattr(preset_handles, "_reachable", lambda endpoint: True)
    cfg = compose_train_config(f"+preset={preset}")
    validate(cfg)
    assert cfg.model.preset == preset and cfg.model.load_weights is True
    assert cfg.model.architecture is None


def test_named_experiment_and_groups_compose():
    cfg = compose_train_config(
        "experiment=finetune_tiny_en", "strategy=mirrored", "schedule=cosine"
    )
    validate(cfg)
    assert cfg.model.preset == "tiny_en"
    assert cfg.data.clip_length_windows is True and cfg.data.min_window_seconds == 10
    assert (cfg.strategy.kind, cfg.schedule.kind) == ("mirrored", "cosine")


def test_a_misspelled_key_fails_naming_it():
    with pytest.raises(ConfigCompositionException) as error:
        compose_train_config("trainer.stepz=3")
    assert "Key 'stepz' not in 'TrainerConfig'" in str(error.value.__cause__)


def test_a_key_forced_in_with_plus_fails_validation():
    with pytest.raises(ValueError, match="trainer.stepz"):
        validate(compose_train_config("+trainer.stepz=3"))


def test_a_value_of_the_wrong_type_fails_naming_it():
    with pytest.raises(ConfigCompositionException) as error:
        compose_train_config("trainer.steps=many")
    assert isinstance(error.value.__cause__, ValidationError)
    assert "steps" in str(error.value.__cause__)


@pytest.mark.parametrize(
    "override, key",
    [
        ("strategy.kind=gpu", "strategy.kind"),
        ("trainer.steps=0", "trainer.steps"),
        ("data.source=s3", "data.source"),
        ("data.label_padding_multiple=0", "data.label_padding_multiple"),
        ("tracker.backends=[console,mlflow]", "tracker.backends"),
        ("trainer.gradient_accumulation_steps=3", "trainer.global_batch_size"),
    ],
)
def test_disallowed_values_fail_naming_the_key(override, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        validate(compose_train_config(override))


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory):
    """A 4-step debug run, then the same run directory resumed to 6 steps."""
    run_dir = str(tmp_path_factory.mktemp("run"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "offline")
        # debug=fast logs to the console alone; this run checks every tracker.
        first = run(compose_train_config("debug=fast", "tracker=default", f"run_dir={run_dir}"))
        resumed = run(
            compose_train_config(
                "debug=fast", "tracker=default", f"run_dir={run_dir}", "trainer.steps=6"
            )
        )
    return run_dir, first, resumed


@pytest.mark.slow
def test_debug_run_trains_evaluates_checkpoints_exports_and_tracks(debug_run):
    run_dir, first, _ = debug_run
    assert 0.0 <= first["wer_after"] and 0.0 <= first["wer_before"]
    backbone = WhisperBackbone.from_preset(first["preset"])
    assert backbone.num_layers == 2
    assert WhisperAudioToText.from_preset(first["preset"]).tokenizer.eos_token_id == 50256
    record = json.loads((pathlib.Path(run_dir) / "run.json").read_text())
    # The resumed run (6 steps) wrote the latest record.
    assert record["config"]["trainer"]["steps"] == 6
    assert re.fullmatch("[0-9a-f]{40}", record["git_commit"])
    assert isinstance(record["git_dirty"], bool)
    assert record["skipped_examples"] == {} and record["skipped_updates"] == 0
    events = list((pathlib.Path(run_dir) / "tensorboard").rglob("events.out.tfevents.*"))
    tags = {
        value.tag
        for path in events
        for event in tf.compat.v1.train.summary_iterator(str(path))
        for value in event.summary.value
    }
    assert {"train/loss", "train/step_time", "eval/wer", "eval/cer"} <= tags
    assert list((pathlib.Path(run_dir) / "wandb").glob("offline-run-*"))
    assert (pathlib.Path(run_dir) / "best" / "best.json").exists()


@pytest.mark.slow
def test_a_run_directory_with_checkpoints_resumes(debug_run):
    run_dir, _, resumed = debug_run
    steps = sorted(os.listdir(pathlib.Path(run_dir) / "checkpoints"))
    assert steps[-1] == "step-000000006"
    assert "step-000000004" in steps


def test_a_preset_without_weights_builds_its_architecture_offline():
    from train.model import build_model
    from train.model import load_tokenizer

    cfg = compose_train_config(
        "+preset=whisper_tiny_en", "model.load_weights=false", "model.tokenizer=tiny_en"
    )
    validate(cfg)
    model = build_model(cfg.model, load_tokenizer("tiny_en"), clip_length_windows=True)
    assert (
        model.backbone.count_params()
        == WhisperBackbone.presets["whisper_tiny_en"]["metadata"]["params"]
    )
    assert model.audio_converter.pad_to_max_audio_length is False
    assert model.tokenizer.eos_token_id == 50256


def test_manifest_columns_are_config_keys_and_a_wrong_one_names_its_key(tmp_path):
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"wav": "a.flac", "words": "hello"}) + "\n")
    paths = [f"data.train.path={manifest}", f"data.eval.path={manifest}"]
    columns = ["data.train.audio_column=wav", "data.eval.audio_column=wav"]
    texts = ["data.train.text_column=words", "data.eval.text_column=words"]
    cfg = compose_train_config("data=manifest", *paths, *columns, *texts)
    validate(cfg)
    sources = build_sources(cfg.data)
    assert [example.text for example in sources.train.examples()] == ["hello"]

    cfg = compose_train_config("data=manifest", *paths, *texts)
    with pytest.raises(ValueError) as error:
        build_sources(cfg.data)
    message = str(error.value)
    assert message.startswith("Config key data.train.audio_column: Manifest ")
    assert "none of 'audio', 'path', 'audio_filepath' (its columns: 'wav', 'words')" in message
