"""Bad configurations on the command line: one line on stderr, exit status 2,
no traceback, no model.

The first group fails in validation, before TensorFlow is imported. Its
cases run `python -m train`'s entry point in this process (its promise is
the line and the status), each with the run itself replaced by a failure, so
that a case validation let through fails; real processes check each way
out once: validation with TensorFlow unimportable, Hydra's own errors, and
the second group, which needs the strategy or the tokenizer and fails
before the model is built.
"""

import json
import sys

import pytest
import train_cli
from doc_commands import DOCS
from train_cli import MODEL_BUILT

import train.__main__ as train_entry_point

BEFORE_TENSORFLOW = [
    (["optimizer.beta_1=1.5"], "optimizer.beta_1"),
    (["optimizer.beta_2=1.0"], "optimizer.beta_2"),
    (["optimizer.epsilon=0"], "optimizer.epsilon"),
    (["optimizer.learning_rate=-1e-4"], "optimizer.learning_rate"),
    (["optimizer.weight_decay=-0.1"], "optimizer.weight_decay"),
    (["optimizer.clip_norm=0"], "optimizer.clip_norm"),
    (["schedule.warmup_steps=1000"], "schedule.warmup_steps"),
    (["schedule.final_learning_rate_fraction=2"], "schedule.final_learning_rate_fraction"),
    (["schedule.kind=exponential"], "schedule.kind"),
    (["trainer.steps=0"], "trainer.steps"),
    (["trainer.gradient_accumulation_steps=3"], "trainer.global_batch_size"),
    (["trainer.keep_checkpoints=0"], "trainer.keep_checkpoints"),
    (["trainer.max_decode_length=500"], "trainer.max_decode_length"),
    (["tracker.backends=[console,mlflow]"], "tracker.backends"),
    (["tracker.log_every_steps=0"], "tracker.log_every_steps"),
    (["strategy.kind=gpu"], "strategy.kind"),
    (["strategy.num_cpu_devices=2"], "strategy.num_cpu_devices"),
    (["strategy=multi_worker"], "strategy.kind"),
    (["data.max_label_tokens=1000"], "data.max_label_tokens"),
    (["data.max_audio_seconds=45"], "data.max_audio_seconds"),
    (["data.min_audio_seconds=20", "data.max_audio_seconds=10"], "data.min_audio_seconds"),
    (["data.shuffle_buffer=-1"], "data.shuffle_buffer"),
    (["data.source=s3"], "data.source"),
    (["seed=-1"], "seed"),
    (["model.architecture.num_mels=100"], "model.architecture.num_mels"),
    (["model.architecture.num_heads=3"], "model.architecture.num_heads"),
    (["model.architecture.hidden_dim=0"], "model.architecture.hidden_dim"),
    (["+model.architecture.dropout=1.5"], "model.architecture.dropout"),
    (["trainer.rematerialize=everything"], "trainer.rematerialize"),
    (
        ["+model.architecture.dropout=0.1", "trainer.rematerialize=layers"],
        "model.architecture.dropout",
    ),
    (["+model.architecture.depth=3"], "model.architecture.depth"),
    (
        ["data.clip_length_windows=false", "model.architecture.max_encoder_sequence_length=1000"],
        "model.architecture.max_encoder_sequence_length",
    ),
    (["model.language=klingon"], "model.language"),
    (["model.task=summarize"], "model.task"),
    (["model.dtype=float8"], "model.dtype"),
    (["model.load_weights=true"], "model.load_weights"),
    (["model.tokenizer=/no/such/tokenizer.json"], "model.tokenizer"),
    (["model.tokenizer=null"], "model.tokenizer"),
    (
        ["model.preset=/no/such/preset", "model.architecture=null", "model.load_weights=true"],
        "model.preset",
    ),
    (["+preset=whisper_base_en"], "model.preset"),
    (
        [
            "+preset=whisper_small_en",
            "model.load_weights=false",
            "model.tokenizer=tiny_en",
            "trainer.max_decode_length=449",
        ],
        "trainer.max_decode_length",
    ),
    (["data=manifest", "data.train.path=no.jsonl", "data.eval.path=no.jsonl"], "data.train.path"),
    (
        ["data=manifest", "data.train.path=tests", "data.eval.path=tests"],
        "data.train.path='tests' is not allowed: use a manifest file (it is a directory)",
    ),
    (
        ["+preset=whisper_base_multi", "model.load_weights=false"],
        "model.tokenizer=/path/to/tokenizer.json",
    ),
    (
        ["data=hf_datasets", "data.train.dataset=/no/dir", "data.eval.dataset=/no/dir"],
        "data.train.dataset",
    ),
    (["data=manifest"], "data.train.path"),
    (["data=hf_datasets", "data.train.dataset=/tmp"], "data.eval.dataset"),
    (["+preset=whisper_tiny_en", "model.architecture={hidden_dim: 8}"], "model.preset"),
    (["experiment=finetune_tiny_en", "+model.architecture.hidden_dim=8"], "model.preset"),
    (["model.architecture=5"], "model.architecture"),
    (["data.min_window_seconds=-1"], "data.min_window_seconds"),
    (["data.min_window_seconds=40"], "data.min_window_seconds"),
    (["experiment=finetune_tiny_en", "data.clip_length_windows=false"], "data.min_window_seconds"),
    (["data.packing=true"], "data.packing"),
    (["data.without_timestamps_share=1.5"], "data.without_timestamps_share"),
    (["data.previous_text_probability=-0.1"], "data.previous_text_probability"),
    (
        ["data.clip_length_windows=false", "data.packing=true", "data.timestamps=true"],
        "data.packing",
    ),
    (
        [
            "data.clip_length_windows=false",
            "data.packing=true",
            "data.previous_text_probability=0.2",
        ],
        "data.packing",
    ),
    (["model.lora.rank=-4"], "model.lora.rank"),
    (["model.lora.alpha=0"], "model.lora.alpha"),
    (["model.lora.targets=[query,fc1]"], "model.lora.targets"),
    (["model.freeze_decoder_layers=3"], "model.freeze_decoder_layers"),
]
BEFORE_THE_MODEL = [
    (["strategy=tpu"], "strategy.kind"),
    (
        ["strategy=mirrored", "strategy.num_cpu_devices=2", "trainer.global_batch_size=15"],
        "trainer.global_batch_size",
    ),
    (["model.architecture.vocabulary_size=1000"], "model.architecture.vocabulary_size"),
    (["model.architecture.vocabulary_size=51865"], "model.architecture.vocabulary_size"),
    (["model.language=fr"], "model.language"),
    (["model.task=translate"], "model.task"),
    (["+data.train.colour=blue"], "data.train"),
]


@pytest.fixture(scope="module")
def without_tensorflow(tmp_path_factory):
    """PYTHONPATH for a process in which importing TensorFlow fails."""
    blocker = tmp_path_factory.mktemp("no-tensorflow")
    (blocker / "tensorflow").mkdir()
    (blocker / "tensorflow" / "__init__.py").write_text(
        'raise ImportError("TensorFlow was imported before the configuration was checked")\n'
    )
    return str(blocker)


def run_train(overrides, tmp_path, **environment):
    return train_cli.run_train(
        *overrides,
        "tracker=console",
        f"run_dir={tmp_path}/run",
        f"hydra.run.dir={tmp_path}/hydra",
        timeout=300,
        **environment,
    )


def assert_one_line_error(completed, key, tmp_path):
    assert completed.returncode == 2, completed.stdout[-2000:] + completed.stderr[-3000:]
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("Error: ") and key in lines[0], lines[0]
    assert "Traceback" not in completed.stderr + completed.stdout
    assert MODEL_BUILT not in completed.stdout
    assert not (tmp_path / "run" / "checkpoints").exists()


def run_entry_point(overrides, tmp_path, monkeypatch, capsys, **environment):
    """`python -m train overrides...` in this process, with `environment`, up
    to the run, which must not start: (exit status, stdout, stderr)."""
    monkeypatch.setenv("WHISPER_KERAS_OFFLINE", "1")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(train_cli.ROOT)  # where the real processes run
    arguments = ["tracker=console", f"run_dir={tmp_path}/run", *overrides]
    # Hydra leaves the test process's logging alone; the real processes
    # below run with its logging configured.
    hydra = [
        f"hydra.run.dir={tmp_path}/hydra",
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
    ]
    monkeypatch.setattr(sys, "argv", ["train", *arguments, *hydra])
    monkeypatch.setattr(train_entry_point._task, "started", False)

    def run(cfg):
        raise AssertionError("the configuration passed validation")

    monkeypatch.setattr(train_entry_point, "run", run)
    with pytest.raises(SystemExit) as exit:
        train_entry_point.command_line()
    return exit.value.code, *capsys.readouterr()


@pytest.mark.parametrize(
    "overrides, key", BEFORE_TENSORFLOW, ids=[" ".join(case[0]) for case in BEFORE_TENSORFLOW]
)
def test_a_bad_value_fails_validation_in_one_line(overrides, key, tmp_path, monkeypatch, capsys):
    status, stdout, stderr = run_entry_point(overrides, tmp_path, monkeypatch, capsys)
    assert status == 2, stdout[-2000:] + stderr[-3000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and key in lines[0], stderr
    assert not (tmp_path / "run").exists()


def test_validation_fails_before_tensorflow_in_a_real_process(tmp_path, without_tensorflow):
    completed = run_train(["optimizer.beta_1=1.5"], tmp_path, PYTHONPATH=without_tensorflow)
    assert_one_line_error(completed, "optimizer.beta_1", tmp_path)


def test_tensorflow_blocked_is_what_a_valid_config_runs_into(tmp_path, without_tensorflow):
    # The blocker works: past validation, the run needs TensorFlow.
    completed = run_train([], tmp_path, PYTHONPATH=without_tensorflow)
    assert completed.returncode != 0
    assert "TensorFlow was imported before the configuration was checked" in completed.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides, key", BEFORE_THE_MODEL, ids=[" ".join(case[0]) for case in BEFORE_THE_MODEL]
)
def test_a_bad_value_fails_before_the_model_in_one_line(overrides, key, tmp_path):
    completed = run_train(overrides, tmp_path)
    assert_one_line_error(completed, key, tmp_path)


def test_the_line_names_the_value_and_what_is_allowed(tmp_path, monkeypatch, capsys):
    line = run_entry_point(["optimizer.beta_1=1.5"], tmp_path, monkeypatch, capsys)[2].strip()
    assert line == (
        "Error: Config value optimizer.beta_1=1.5 is not allowed: use a number in [0, 1)."
    )


def test_offline_the_preset_error_says_which_override_takes_a_local_directory(
    tmp_path, monkeypatch, capsys
):
    line = run_entry_point(["+preset=whisper_base_en"], tmp_path, monkeypatch, capsys)[2].strip()
    assert "downloads are disabled (WHISPER_KERAS_OFFLINE=1)" in line
    assert "pass model.preset=/path/to/preset" in line
    assert "or model.load_weights=false for its architecture" in line


@pytest.mark.parametrize(
    "handle, host",
    [("hf://openai/whisper-tiny.en", "127.0.0.1"), ("whisper_tiny_en", "127.0.0.1")],
)
def test_an_unreachable_hub_is_one_short_line_before_tensorflow(
    handle, host, tmp_path, without_tensorflow
):
    # Downloads allowed, but the hub is a closed port: a machine offline. No
    # client retries: the line comes before TensorFlow is imported.
    completed = run_train(
        [f"model.preset={handle}", "model.architecture=null", "model.load_weights=true"],
        tmp_path,
        WHISPER_KERAS_OFFLINE="0",
        HF_HUB_OFFLINE="0",
        HF_ENDPOINT="http://127.0.0.1:9",
        KAGGLE_API_ENDPOINT="http://127.0.0.1:9",
        PYTHONPATH=without_tensorflow,
    )
    assert_one_line_error(completed, "model.preset", tmp_path)
    line = completed.stderr.strip()
    assert f"is not on this machine and no connection to {host}" in line
    assert "pass model.preset=/path/to/preset" in line
    assert len(line) < 400 and "urllib3" not in line


def test_the_docs_count_these_configurations(tmp_path):
    docs = "".join(DOCS.values())
    total = len(BEFORE_TENSORFLOW) + len(BEFORE_THE_MODEL)
    assert f"{total} bad configurations in `tests/test_config_errors.py`, " in docs
    assert f"{len(BEFORE_TENSORFLOW)} of them refused before TensorFlow is imported" in docs


def test_hydra_full_error_shows_the_traceback(tmp_path):
    completed = run_train(["optimizer.beta_1=1.5"], tmp_path, HYDRA_FULL_ERROR="1")
    assert completed.returncode != 0
    assert "Traceback" in completed.stderr and "ConfigError" in completed.stderr


@pytest.mark.parametrize(
    "override, key", [("trainer.stepz=3", "stepz"), ("trainer.steps=many", "steps")]
)
def test_hydra_reports_unknown_keys_and_wrong_types_itself_with_status_2(
    override, key, tmp_path, monkeypatch, capsys
):
    status, _, stderr = run_entry_point([override], tmp_path, monkeypatch, capsys)
    assert status == 2
    assert key in stderr and "Traceback" not in stderr
    assert "HYDRA_FULL_ERROR=1" in stderr


def test_hydras_own_errors_exit_2_in_a_real_process(tmp_path):
    completed = run_train(["trainer.stepz=3"], tmp_path)
    assert completed.returncode == 2
    assert "stepz" in completed.stderr and "Traceback" not in completed.stderr


def test_a_cluster_in_tf_config_without_multi_worker_is_refused(tmp_path, monkeypatch, capsys):
    # Each process would train alone and write the same run directory.
    cluster = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"index": 1}}
    status, _, stderr = run_entry_point(
        [], tmp_path, monkeypatch, capsys, TF_CONFIG=json.dumps(cluster)
    )
    assert status == 2 and stderr.startswith("Error: ") and "strategy.kind" in stderr
    assert "TF_CONFIG describes 2 tasks" in stderr


def test_an_object_store_run_dir_is_refused(tmp_path, monkeypatch, capsys):
    status, _, stderr = run_entry_point(["run_dir=gs://bucket/run"], tmp_path, monkeypatch, capsys)
    assert status == 2 and stderr.count("\n") == 1 and "run_dir='gs://bucket/run'" in stderr
