"""python -m train end to end: Hydra composition, validation, runs, resume, sweeps."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from hydra import compose
from hydra import initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from train.__main__ import run
from train.config import validate
from whisper import WhisperAudioToText
from whisper import WhisperBackbone

ROOT = pathlib.Path(__file__).resolve().parents[1]


def compose_config(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


@pytest.mark.parametrize("preset", sorted(WhisperBackbone.presets))
def test_every_builtin_preset_composes(preset):
    cfg = compose_config(f"+preset={preset}")
    validate(cfg)
    assert cfg.model.preset == preset and cfg.model.load_weights is True
    assert cfg.model.architecture is None


def test_named_experiment_and_groups_compose():
    cfg = compose_config("experiment=finetune_tiny_en", "strategy=mirrored", "schedule=cosine")
    validate(cfg)
    assert cfg.model.preset == "tiny_en"
    assert cfg.data.clip_length_windows is False
    assert (cfg.strategy.kind, cfg.schedule.kind) == ("mirrored", "cosine")


def test_a_misspelled_key_fails_naming_it():
    with pytest.raises(ConfigCompositionException) as error:
        compose_config("trainer.stepz=3")
    assert "Key 'stepz' not in 'TrainerConfig'" in str(error.value.__cause__)


def test_a_key_forced_in_with_plus_fails_validation():
    with pytest.raises(ValueError, match="trainer.stepz"):
        validate(compose_config("+trainer.stepz=3"))


def test_a_value_of_the_wrong_type_fails_naming_it():
    with pytest.raises(ConfigCompositionException) as error:
        compose_config("trainer.steps=many")
    assert isinstance(error.value.__cause__, ValidationError)
    assert "steps" in str(error.value.__cause__)


@pytest.mark.parametrize(
    "override, key",
    [
        ("strategy.kind=gpu", "strategy.kind"),
        ("trainer.steps=0", "trainer.steps"),
        ("data.source=s3", "data.source"),
        ("tracker.backends=[console,mlflow]", "tracker.backends"),
        ("trainer.gradient_accumulation_steps=3", "trainer.global_batch_size"),
    ],
)
def test_disallowed_values_fail_naming_the_key(override, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        validate(compose_config(override))


def test_a_bad_config_fails_on_the_command_line_before_any_work(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "train", "strategy.kind=gpu", f"run_dir={tmp_path}/run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0
    assert "strategy.kind='gpu' is not allowed" in completed.stderr
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory):
    """A 4-step debug run, then the same run directory resumed to 6 steps."""
    run_dir = str(tmp_path_factory.mktemp("run"))
    os.environ["WANDB_MODE"] = "offline"
    first = run(compose_config("debug=fast", f"run_dir={run_dir}"))
    resumed = run(compose_config("debug=fast", f"run_dir={run_dir}", "trainer.steps=6"))
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
    assert "commit" in json.dumps(record)
    assert list((pathlib.Path(run_dir) / "tensorboard").rglob("events.out.tfevents.*"))
    assert list((pathlib.Path(run_dir) / "wandb").glob("offline-run-*"))
    assert (pathlib.Path(run_dir) / "best" / "best.json").exists()


@pytest.mark.slow
def test_a_run_directory_with_checkpoints_resumes(debug_run):
    run_dir, _, resumed = debug_run
    steps = sorted(os.listdir(pathlib.Path(run_dir) / "checkpoints"))
    assert steps[-1] == "step-000000006"
    assert "step-000000004" in steps


@pytest.mark.slow
def test_multirun_sweep_runs_each_job_in_its_own_directory(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "-m",
            "debug=fast",
            "tracker=console",
            "trainer.steps=2",
            "optimizer.learning_rate=1e-3,2e-3",
            f"hydra.sweep.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for job in ("0", "1"):
        assert (tmp_path / job / "preset" / "config.json").exists()
        assert (tmp_path / job / "checkpoints" / "step-000000002").exists()


@pytest.mark.slow
def test_fine_tuning_real_tiny_en_lowers_held_out_wer(tmp_path):
    # The documented override, shortened for CI: a few steps at a higher rate.
    cfg = compose_config(
        "experiment=finetune_tiny_en",
        "tracker=console",
        f"run_dir={tmp_path}",
        "trainer.steps=10",
        "trainer.eval_every_steps=10",
        "trainer.checkpoint_every_steps=10",
        "schedule.warmup_steps=2",
        "optimizer.learning_rate=3e-5",
        "data.max_eval_examples=16",
    )
    summary = run(cfg)
    assert summary["wer_after"] < summary["wer_before"], summary


@pytest.mark.slow
def test_the_recipe_runs_under_mirrored_strategy_on_two_cpu_devices(tmp_path):
    # Logical CPU devices must exist before TensorFlow starts: a fresh process.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "debug=fast",
            "tracker=console",
            "strategy=mirrored",
            "strategy.num_cpu_devices=2",
            f"run_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Held-out WER" in completed.stdout
    assert (tmp_path / "checkpoints" / "step-000000004").exists()
    assert WhisperBackbone.from_preset(str(tmp_path / "preset")).num_layers == 2


def test_a_preset_without_weights_builds_its_architecture_offline():
    from train.model import build_model

    cfg = compose_config(
        "+preset=whisper_tiny_en", "model.load_weights=false", "model.tokenizer=tiny_en"
    )
    validate(cfg)
    model = build_model(cfg.model, clip_length_windows=True)
    assert (
        model.backbone.count_params()
        == WhisperBackbone.presets["whisper_tiny_en"]["metadata"]["params"]
    )
    assert model.audio_converter.pad_to_max_audio_length is False
    assert model.tokenizer.eos_token_id == 50256
