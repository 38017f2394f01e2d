"""Tracking: console lines, real TensorBoard event files, real offline wandb."""

import glob
import io
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from train import tracking
from train.tracking import REDACTED
from train.tracking import Tracker
from train.tracking import format_metric
from train.tracking import resolve_wandb_mode
from train.tracking import run_record

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = [("clip_1", "the cat | sat", "the cat sat"), ("clip_2", "hello", "yellow")]


@pytest.fixture
def no_wandb_credentials(monkeypatch, tmp_path):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))


def test_console_prints_one_readable_line_per_call(tmp_path):
    stream = io.StringIO()
    tracker = Tracker(tmp_path, backends=["console"], total_steps=1000, stream=stream)
    tracker.log_metrics(
        120,
        {
            "train/loss": 2.34567,
            "train/lr": 3e-5,
            "train/grad_norm": 0.8123,
            "train/examples_per_second": 35.12,
            "train/audio_seconds_per_second": 412.34,
            "train/step_time": 0.5,
        },
    )
    tracker.log_metrics(200, {"eval/wer": 0.08123, "eval/cer": 0.031})
    tracker.close()
    assert stream.getvalue().splitlines() == [
        "step 120/1000 (12%) | loss 2.3457 | lr 3.00e-05 | grad_norm 0.8123 | "
        "35.1 examples/s | 412.3 audio s/s | 0.50 s/step | eta 7m20s",
        "step 200/1000 (20%) | eval/wer 8.12% | eval/cer 3.10%",
    ]


def test_console_shows_a_few_predictions(tmp_path):
    stream = io.StringIO()
    tracker = Tracker(tmp_path, backends=["console"], stream=stream)
    tracker.log_predictions(50, ROWS * 4)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "step 50: 5 of 8 predictions"
    assert lines[1:4] == [
        "  clip_1",
        "    reference:  the cat | sat",
        "    hypothesis: the cat sat",
    ]
    assert len(lines) == 1 + 5 * 3


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("train/loss", 0.5, "loss 0.5000"),
        ("eval/loss", 0.5, "eval/loss 0.5000"),
        ("train/learning_rate", 1e-3, "learning_rate 1.00e-03"),
        ("eval/wer", 0.5, "eval/wer 50.00%"),
        ("train/tokens", 12345.0, "tokens 1.234e+04"),
    ],
)
def test_format_metric(name, value, shown):
    assert format_metric(name, value) == shown


def test_log_config_writes_run_json_with_the_git_commit(tmp_path):
    stream = io.StringIO()
    tracker = Tracker(tmp_path, backends=["console"], stream=stream)
    tracker.log_config({"model": {"preset": "whisper_tiny_en"}, "seed": 0})
    with open(tmp_path / "run.json") as file:
        record = json.load(file)
    assert record["config"] == {"model": {"preset": "whisper_tiny_en"}, "seed": 0}
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True
    ).stdout.strip()
    assert record["git_commit"] == head and re.fullmatch("[0-9a-f]{40}", head)
    assert isinstance(record["git_dirty"], bool)
    assert record["versions"]["keras"].startswith("3.")
    assert stream.getvalue().startswith(f"git commit {head}")

    tracker.log_summary({"skipped_examples": {"too_long": 2}})
    with open(tmp_path / "run.json") as file:
        record = json.load(file)
    assert record["skipped_examples"] == {"too_long": 2} and record["git_commit"] == head


def test_secrets_never_reach_the_run_record(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    monkeypatch.setenv("MY_SERVICE_API_KEY", "service-secret")
    monkeypatch.setattr(
        sys, "argv", ["train", "+x.api_key=abc123", "data.train.path=gs://b/hf_secret_value"]
    )
    record = run_record({"tracker": {"wandb_token": "t0k3n", "project": "p"}, "n": 1})
    assert record["config"] == {"tracker": {"wandb_token": REDACTED, "project": "p"}, "n": 1}
    assert record["command"] == [
        "train",
        f"+x.api_key={REDACTED}",
        f"data.train.path=gs://b/{REDACTED}",
    ]
    assert "secret" not in json.dumps(record)


def test_tensorboard_event_files_hold_scalars_and_text(tmp_path):
    with Tracker(tmp_path, backends=["tensorboard"]) as tracker:
        tracker.log_config({"seed": 0})
        tracker.log_metrics(1, {"train/loss": 2.5, "train/lr": 1e-4})
        tracker.log_metrics(2, {"train/loss": 2.0})
        tracker.log_predictions(2, ROWS)

    scalars, texts = {}, {}
    for path in glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                if array.dtype == object:
                    texts[value.tag] = array.item().decode()
                else:
                    scalars[(value.tag, event.step)] = float(array)
    assert scalars == {
        ("train/loss", 1): 2.5,
        ("train/lr", 1): pytest.approx(1e-4),
        ("train/loss", 2): 2.0,
    }
    assert re.search('"git_commit": "[0-9a-f]{40}"', texts["config"])
    assert "| clip_1 | the cat \\| sat | the cat sat |" in texts["eval/predictions"]


def test_only_the_chief_logs(tmp_path):
    tracker = Tracker(tmp_path / "run", is_chief=False)
    tracker.log_config({"seed": 0})
    tracker.log_metrics(1, {"train/loss": 1.0})
    tracker.log_predictions(1, ROWS)
    tracker.close()
    assert not os.path.exists(tmp_path / "run")


def test_unknown_backends_are_refused(tmp_path):
    with pytest.raises(ValueError, match="Unknown tracking backends \\['mlflow'\\]"):
        Tracker(tmp_path, backends=["console", "mlflow"])


def test_wandb_mode_follows_credentials(no_wandb_credentials, monkeypatch, tmp_path):
    assert resolve_wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode() == "disabled"
    assert resolve_wandb_mode("offline") == "offline"
    monkeypatch.delenv("WANDB_MODE")
    with pytest.raises(ValueError, match="needs credentials"):
        resolve_wandb_mode("online")
    with pytest.raises(ValueError, match="must be one of"):
        resolve_wandb_mode("cloud")

    netrc_path = tmp_path / "netrc"
    netrc_path.write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    netrc_path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_path))
    assert resolve_wandb_mode() == "online"
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert resolve_wandb_mode() == "online"


def test_an_unreachable_wandb_server_falls_back_to_offline(tmp_path, monkeypatch):
    import wandb

    modes = []

    class FakeRun:
        def define_metric(self, *args, **kwargs):
            pass

    def init(settings, **kwargs):
        modes.append(settings.mode)
        if settings.mode == "online":
            raise wandb.errors.CommError("Timed out while retrying")
        return FakeRun()

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setattr(wandb, "init", init)
    Tracker(tmp_path, backends=["wandb"])
    assert modes == ["online", "offline"]


WANDB_SCRIPT = textwrap.dedent(
    """
    import sys
    from train.tracking import Tracker

    tracker = Tracker(sys.argv[1], backends=["wandb"], project="tests")
    tracker.log_config({"model": {"preset": "whisper_tiny_en"}})
    tracker.log_metrics(10, {"train/loss": 1.5})
    tracker.log_metrics(20, {"train/loss": 1.25, "eval/wer": 0.5})
    tracker.log_predictions(20, [("clip_1", "hello", "yellow")])
    tracker.close()
    """
)


def test_wandb_logs_offline_without_prompting(tmp_path):
    """Real wandb, no credentials, standard input closed: an offline run."""
    run_dir = tmp_path / "run"
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL")
    }
    environment.update(
        NETRC=str(tmp_path / "no_netrc"),
        WANDB_DIR=str(tmp_path / "elsewhere"),  # The tracker's run_dir wins.
        WANDB_CONFIG_DIR=str(tmp_path / "config"),
        WANDB_CACHE_DIR=str(tmp_path / "cache"),
        WANDB_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=REPOSITORY,
    )
    completed = subprocess.run(
        [sys.executable, "-c", WANDB_SCRIPT, str(run_dir)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr

    (run_file,) = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    records = read_wandb_records(run_file)
    history = [
        {
            item.key or "/".join(item.nested_key): json.loads(item.value_json)
            for item in r.history.item
        }
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    metrics = [
        {key: value for key, value in row.items() if not key.startswith("_")} for row in history
    ]
    assert metrics[:2] == [
        {"train/loss": 1.5, "step": 10},
        {"train/loss": 1.25, "eval/wer": 0.5, "step": 20},
    ]
    table = {k: v for k, v in metrics[2].items() if k.startswith("eval/predictions/")}
    assert (metrics[2]["step"], table["eval/predictions/_type"]) == (20, "table-file")
    files = os.path.join(os.path.dirname(run_file), "files")
    with open(os.path.join(files, table["eval/predictions/path"])) as file:
        assert json.load(file)["data"] == [["clip_1", "hello", "yellow"]]
    config = {
        item.key: json.loads(item.value_json)
        for r in records
        if r.WhichOneof("record_type") == "config"
        for item in r.config.update
    }
    assert config["model"] == {"preset": "whisper_tiny_en"}
    assert re.fullmatch("[0-9a-f]{40}", config["git_commit"])
    assert os.path.exists(run_dir / "wandb_run_id")


def read_wandb_records(path):
    """The protobuf records of a .wandb file, which is a LevelDB-style log:
    a 7-byte file header, then 32 KiB blocks of chunks, each a 7-byte header
    (CRC32C, little-endian length, type) and part of one serialized record
    (type 1: whole; 2, 3, 4: first, middle, last)."""
    from wandb.proto import wandb_internal_pb2

    block, header = 32768, 7
    with open(path, "rb") as file:
        data = file.read()
    assert data.startswith(b":W&B")
    records, pending, position = [], b"", header
    while position + header <= len(data):
        left_in_block = block - position % block
        if left_in_block < header:  # Too little room for a chunk: padding.
            position += left_in_block
            continue
        length = int.from_bytes(data[position + 4 : position + 6], "little")
        kind = data[position + 6]
        pending += data[position + header : position + header + length]
        position += header + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_the_wandb_run_id_persists_in_the_run_directory(tmp_path):
    first = tracking._persistent_run_id(str(tmp_path))
    assert tracking._persistent_run_id(str(tmp_path)) == first
    assert re.fullmatch("[0-9a-f]{12}", first)
