"""Every documented command and config group, run as the real `python -m train` process.

Each run is tiny (`debug=fast`: 4 steps of 4 examples) but complete: it
trains, evaluates, checkpoints and exports a preset. The README's main job,
`python -m train` with nothing else, runs in full.
"""

import json
import re

import pytest
from doc_commands import module_arguments
from speech_datasets import prepare_tfds_dataset
from speech_datasets import save_hf_dataset
from speech_datasets import write_manifest
from train_cli import ROOT
from train_cli import assert_trained
from train_cli import run_train

from whisper import WhisperBackbone

FAST = ("debug=fast", "tracker=console")
SPEECH_DIR = ROOT / "tests" / "data" / "speech"


def split_clips(speech_clips):
    return {"train": speech_clips[:6], "dev": speech_clips[6:]}


@pytest.mark.slow
def test_the_readme_manifest_command_trains(speech_clips, tmp_path):
    # The README's command, run where the manifests are, with relative paths.
    # CSV and TSV are read by the same source (tests/test_manifest_source.py).
    for split, clips in split_clips(speech_clips).items():
        write_manifest(tmp_path / f"{split}.jsonl", clips, "jsonl")
    completed = run_train(
        "data=manifest",
        "data.train.path=train.jsonl",
        "data.eval.path=dev.jsonl",
        *FAST,
        "run_dir=run",
        cwd=tmp_path,
    )
    assert_trained(completed, tmp_path / "run")


@pytest.mark.slow
def test_hf_datasets_from_a_dataset_saved_to_disk(speech_clips, tmp_path):
    directories = {
        split: save_hf_dataset(tmp_path / split, clips)
        for split, clips in split_clips(speech_clips).items()
    }
    completed = run_train(
        "data=hf_datasets",
        f"data.train.dataset={directories['train']}",
        f"data.eval.dataset={directories['dev']}",
        *FAST,
        f"run_dir={tmp_path}/run",
    )
    assert_trained(completed, tmp_path / "run")


@pytest.mark.slow
def test_tfds_from_a_locally_prepared_builder(tmp_path):
    data_dir = prepare_tfds_dataset(tmp_path / "tfds", SPEECH_DIR)
    dataset = {"name": "tiny_speech_clips", "data_dir": data_dir, "speech_feature": "speech"}
    overrides = [
        f"data.{split}.{key}={value}"
        for split in ("train", "eval")
        for key, value in dataset.items()
    ]
    completed = run_train(
        "data=tfds",
        *overrides,
        "data.train.split=train",
        "data.eval.split=test",
        *FAST,
        f"run_dir={tmp_path}/run",
    )
    assert_trained(completed, tmp_path / "run")


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    # With the other group option of schedule, and rematerialized layers.
    completed = run_train(
        "strategy=mirrored",
        "strategy.num_cpu_devices=2",
        "schedule=cosine",
        "trainer.rematerialize=layers",
        *FAST,
        f"run_dir={tmp_path}",
    )
    assert_trained(completed, tmp_path)
    assert WhisperBackbone.from_preset(str(tmp_path / "preset")).num_layers == 2
    config = json.loads((tmp_path / "run.json").read_text())["config"]
    assert config["schedule"]["kind"] == "cosine"
    assert config["trainer"]["rematerialize"] == "layers"


@pytest.mark.slow
def test_the_finetune_experiment_with_packing_lowers_held_out_wer(tmp_path):
    # The docs' experiment, shortened for CI: a few steps at a higher
    # rate, several clips to each 30 s window; held-out clips are decoded
    # one by one in 30 s windows.
    completed = run_train(
        "experiment=finetune_tiny_en",
        *("data.clip_length_windows=false", "data.min_window_seconds=0", "data.packing=true"),
        "tracker=console",
        f"run_dir={tmp_path}",
        "trainer.steps=3",
        "trainer.global_batch_size=4",
        "trainer.eval_every_steps=3",
        "trainer.checkpoint_every_steps=3",
        "schedule.warmup_steps=1",
        "optimizer.learning_rate=3e-5",
        "data.max_eval_examples=8",
    )
    assert_trained(completed, tmp_path)
    before, after = held_out_wer(completed.stdout)
    assert after < before, completed.stdout[-2000:]


def held_out_wer(stdout):
    match = re.search(r"Held-out WER ([\d.]+) before, ([\d.]+) after", stdout)
    return float(match.group(1)), float(match.group(2))


@pytest.mark.slow
def test_a_sweep_runs_each_job_in_its_own_directory(tmp_path):
    completed = run_train(
        "-m",
        *FAST,
        "trainer.steps=2",
        "data.min_window_seconds=4",
        "optimizer.learning_rate=1e-3,2e-3",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for job in ("0", "1"):
        assert (tmp_path / job / "preset" / "config.json").exists()
        assert (tmp_path / job / "checkpoints" / "step-000000002").exists()
    rates = [json.loads((tmp_path / job / "run.json").read_text()) for job in ("0", "1")]
    assert [r["config"]["optimizer"]["learning_rate"] for r in rates] == [1e-3, 2e-3]
    assert {r["config"]["data"]["min_window_seconds"] for r in rates} == {4}


@pytest.mark.slow
@pytest.mark.longest
def test_the_readme_main_job_runs_as_documented(tmp_path):
    # `python -m train` exactly, in a fresh directory: 600 steps on the
    # synthetic corpus, every backend (wandb offline, TensorBoard, console).
    completed = run_train(cwd=tmp_path, timeout=1800)
    assert completed.returncode == 0, completed.stderr[-3000:]
    before, after = held_out_wer(completed.stdout)
    assert after < 0.8 and after < before / 4, completed.stdout[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "train").iterdir()
    assert_run_directory(run_dir, completed.stdout)


def assert_run_directory(run_dir, stdout):
    """The docs' promises about a run directory and its console lines."""
    record = json.loads((run_dir / "run.json").read_text())
    assert re.fullmatch("[0-9a-f]{40}", record["git_commit"])
    assert isinstance(record["git_dirty"], bool)
    assert record["skipped_examples"] == {}
    assert "\nNo examples were skipped.\n" in stdout
    assert record["wer_after"] < record["wer_before"]
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert list((run_dir / "wandb").glob("offline-run-*"))
    assert (run_dir / "best" / "best.json").exists()
    assert WhisperBackbone.from_preset(str(run_dir / "preset")).num_layers == 2
    train_lines = [line for line in stdout.splitlines() if "| loss " in line]
    assert train_lines and all(" | eta " in line for line in train_lines)
    assert re.search(r"\| eval/wer [\d.]+% \| eval/cer", stdout)


def test_documented_train_commands_are_the_ones_tested():
    # The commands the docs show for `python -m train`; each one above
    # (or in test_config_errors.py, offline) runs it.
    shown = {" ".join(["python", "-m", "train", *args]) for args in module_arguments("train")}
    assert shown == DOCUMENTED_COMMANDS


DOCUMENTED_COMMANDS = {
    "python -m train experiment=finetune_tiny_en",
    "python -m train +preset=whisper_base_en strategy=mirrored trainer.steps=5000",
    "python -m train +preset=whisper_tiny_en model.load_weights=false debug=fast",
    "python -m train data=manifest data.train.path=train.jsonl data.eval.path=dev.jsonl",
    "python -m train -m optimizer.learning_rate=1e-4,3e-4",
    "python -m train run_dir=outputs/train/2026-11-25_12-00-00",
    # Run with a multilingual model in test_training_targets_cli.py.
    "python -m train data=manifest data.train.path=train.jsonl data.eval.path=dev.jsonl "
    "data.timestamps=true data.previous_text_probability=0.5",
    # Run shortened (debug=fast) in test_fine_tuning.py.
    "python -m train experiment=finetune_tiny_en model.lora.rank=8 optimizer.learning_rate=1e-3",
    "python -m train experiment=finetune_tiny_en model.freeze_encoder_layers=2 "
    "model.freeze_decoder_layers=2 model.freeze_token_embedding=true",
    # Run on the real Slurm cluster in test_launch_slurm.py.
    "python -m train -m hydra/launcher=submitit_slurm hydra.launcher.partition=gpu "
    "hydra.launcher.timeout_min=240 hydra.sweep.dir=/shared/sweeps/lr "
    "optimizer.learning_rate=1e-4,3e-4",
}


@pytest.mark.slow
def test_a_presets_architecture_trains_offline_in_a_debug_run_that_learns_at_once(tmp_path):
    # The docs' command, offline: English-only presets share the
    # installed tokenizer. debug=fast logs to the console alone, and its
    # first update has a learning rate.
    completed = run_train(
        "+preset=whisper_tiny_en",
        "model.load_weights=false",
        "debug=fast",
        f"run_dir={tmp_path}/run",
        f"hydra.run.dir={tmp_path}/hydra",
    )
    assert_trained(completed, tmp_path / "run")
    assert "Whisper: 37,760,256 parameters, 4 encoder layers" in completed.stdout
    assert not (tmp_path / "run" / "wandb").exists()
    assert not (tmp_path / "run" / "tensorboard").exists()
    first_rate = re.search(r"^step 1/4 .*\| learning_rate (\S+) \|", completed.stdout, re.M)
    assert float(first_rate.group(1)) > 0, completed.stdout[-3000:]


def test_the_documented_preset_command_offline_says_what_to_pass(tmp_path):
    completed = run_train(
        "+preset=whisper_base_en",
        "strategy=mirrored",
        "trainer.steps=5000",
        f"hydra.run.dir={tmp_path}",
    )
    assert completed.returncode == 2
    assert "pass model.preset=/path/to/preset" in completed.stderr


SECRETS = {
    "WANDB_API_KEY": "wandb0123456789abcdef0123456789abcdef0123",
    "HF_TOKEN": "hf_secretTOKENvalue12345",
    "KAGGLE_KEY": "kaggle-secret-key-98765",
    "MY_SERVICE_TOKEN": "service-token-24680",
}


@pytest.mark.slow
def test_secrets_reach_no_file_of_the_run_nor_its_output(tmp_path):
    # The default tracker (wandb offline, TensorBoard, console), Hydra's own
    # run directory, and a secret passed on the command line too.
    completed = run_train(
        "debug=fast",
        f"hydra.run.dir={tmp_path}/run",
        f"notes=uploaded with {SECRETS['HF_TOKEN']}",
        WANDB_MODE="offline",
        **SECRETS,
    )
    assert_trained(completed, tmp_path / "run")
    files = [path for path in (tmp_path / "run").rglob("*") if path.is_file()]
    assert any(path.name == "run.json" for path in files)
    for secret in SECRETS.values():
        assert secret not in completed.stdout + completed.stderr
        for path in files:
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_updates_that_stay_non_finite_stop_the_run_naming_the_examples(tmp_path):
    # A learning rate of 1e30 makes the weights overflow after one update;
    # every later loss is NaN, each update is skipped, and the third stops.
    completed = run_train(
        *FAST,
        "trainer.steps=20",
        "optimizer.learning_rate=1e30",
        "optimizer.clip_norm=null",
        "schedule.warmup_steps=0",
        "trainer.max_skipped_updates_in_a_row=3",
        f"run_dir={tmp_path}",
    )
    assert completed.returncode == 3, completed.stderr[-3000:]
    (line,) = [line for line in completed.stderr.splitlines() if line.startswith("Error: ")]
    assert "3 updates in a row had a non-finite loss or gradient" in line
    assert re.search(r"the last batch held examples \[synthetic-s0-train-\d+, ", line)
    assert "Traceback" not in completed.stderr
    losses = [line for line in completed.stdout.splitlines() if " | loss nan" in line]
    assert len(losses) == 3 and all("skipped_update 1" in line for line in losses)
