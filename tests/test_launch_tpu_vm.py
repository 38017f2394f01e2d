"""`python -m launch tpu-vm`: the exact gcloud commands, and a fake gcloud that runs them.

The fake `gcloud` (first on PATH) logs its arguments, answers ACTIVE when the
queued resource is described, and for `tpu-vm ssh --worker=all --command C`
runs C with bash once per simulated worker, at the same time, as gcloud
does over ssh. On those "workers" `python3` is a shim: `pip install` is only
logged (a worker's network is not ours), everything else runs this
interpreter, so `launch.worker` and `python -m train` really run. No TPU is
here, so each worker's train must stop on the one-line "No TPU available"
error of strategy=tpu: that shows the rendered command reaches TPUStrategy
with WHISPER_CLUSTER=tpu-vm and no stray TF_CONFIG, not that it trains.
"""

import json
import os
import string
import subprocess
import sys

import pytest
from launch_cli import run_launch

from tests.train_cli import ROOT

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OPTIONS = [
    "--tpu-name", "whisper-tpu", "--zone", "us-west4-a", "--accelerator-type", "v5litepod-8",
    "--project", "my-project", "--spot", "--repo-url", "https://git.example/whisper-keras.git",
    "--commit", COMMIT, "--poll-seconds", "0",
]  # fmt: skip
REMOTE = (
    'python3 -m pip install "whisper-keras[tpu] @ git+https://git.example/whisper-keras.git@'
    f'{COMMIT}" -f https://storage.googleapis.com/libtpu-tf-releases/index.html'
    " && python3 -m pip install --no-deps keras-hub==0.32.0"
    " && WHISPER_CLUSTER=tpu-vm python3 -m launch.worker -- python3 -m train debug=fast"
    " strategy=tpu strategy.tpu=local run_dir={run_dir}"
)
WHERE = "whisper-tpu --zone=us-west4-a --project=my-project"


def launch_tpu_vm(*arguments, cwd, path=None, **variables):
    if path is not None:
        variables["PATH"] = path
    return run_launch("tpu-vm", *arguments, cwd=cwd, timeout=300, **variables)


def test_dry_run_prints_the_exact_gcloud_commands(tmp_path):
    completed = launch_tpu_vm(
        "--dry-run", *OPTIONS, "--run-dir", "/mnt/runs/a", "--", "debug=fast", cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    remote = REMOTE.format(run_dir="/mnt/runs/a")
    assert completed.stdout.splitlines() == [
        f"# would run: gcloud compute tpus queued-resources create {WHERE} "
        "--node-id=whisper-tpu --accelerator-type=v5litepod-8 "
        "--runtime-version=v2-alpha-tpuv5-lite --spot",
        f"# would run: gcloud compute tpus queued-resources describe {WHERE} "
        "'--format=value(state.state)'",
        f"# would run: gcloud compute tpus tpu-vm ssh {WHERE} --worker=all --command '{remote}'",
        f"# would write {tmp_path}/outputs/launch/tpu-vm/whisper-tpu/launch.json (launch.json); "
        "nothing was written or run.",
    ]
    assert list(tmp_path.iterdir()) == []


def test_install_defaults_to_this_checkouts_commit(tmp_path):
    completed = launch_tpu_vm(
        "--dry-run", "--tpu-name", "t", "--zone", "z", "--accelerator-type", "v4-8",
        "--repo-url", "https://git.example/w.git", "--run-dir", "/mnt/r", cwd=tmp_path,
    )  # fmt: skip
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert completed.returncode == 0, completed.stderr
    assert f"git+https://git.example/w.git@{head}" in completed.stdout
    assert "--runtime-version=tpu-ubuntu2204-base" in completed.stdout


NO_GCLOUD = "Error: gcloud is not on PATH: install the Google Cloud CLI, or use --dry-run."
NO_RUN_DIR = (
    "Error: tpu-vm needs --run-dir PATH: a directory on the TPU VM (on a multi-host "
    "slice, a shared mount every host sees at that path)."
)
URL_RUN_DIR = (
    "Error: --run-dir gs://b/r: a URL; train writes checkpoints with atomic file-system "
    "renames, so give a local path or a shared mount (NFS, Filestore) seen by every rank."
)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--run-dir", "/mnt/r"], NO_GCLOUD),
        ([], NO_RUN_DIR),
        (["--run-dir", "gs://b/r"], URL_RUN_DIR),
    ],
)
def test_bad_launches_are_one_line(tmp_path, arguments, message):
    completed = launch_tpu_vm(*OPTIONS, *arguments, cwd=tmp_path, path=str(tmp_path))
    assert completed.returncode == 2
    assert completed.stderr.strip() == message


# The fake gcloud: logs its arguments; runs an ssh --worker=all command once per worker.
FAKE_GCLOUD = """\
#!$python
import json, os, subprocess, sys
with open("$tmp/gcloud.log", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:5] == ["compute", "tpus", "queued-resources", "describe"]:
    print("ACTIVE")
if sys.argv[1:5] == ["compute", "tpus", "tpu-vm", "ssh"] and "--worker=all" in sys.argv:
    command = sys.argv[sys.argv.index("--command") + 1]
    workers = []
    for i in range($workers):
        with open(f"$tmp/worker-{i}.log", "w") as output:
            environment = {**os.environ, "TPU_WORKER_ID": str(i)}
            workers.append(subprocess.Popen(["bash", "-c", command], env=environment,
                                            stdout=output, stderr=subprocess.STDOUT))
    sys.exit(max(worker.wait() for worker in workers))
"""
# The workers' python3: logs each call; pip only logged, the rest runs this interpreter.
PYTHON3_SHIM = """\
#!$python
import json, os, sys
call = {"worker": os.environ.get("TPU_WORKER_ID"), "args": sys.argv[1:],
        "WHISPER_CLUSTER": os.environ.get("WHISPER_CLUSTER"),
        "TF_CONFIG": os.environ.get("TF_CONFIG")}
with open("$tmp/python3.log", "a") as log:
    log.write(json.dumps(call) + "\\n")
if sys.argv[1:3] == ["-m", "pip"]:
    sys.exit(0)
os.execv("$python", ["$python", *sys.argv[1:]])
"""


def fake_cloud(tmp_path, workers):
    """A bin dir with the fake `gcloud` and the workers' `python3` shim (see the docstring)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    values = {"python": sys.executable, "tmp": str(tmp_path), "workers": workers}
    for name, template in (("gcloud", FAKE_GCLOUD), ("python3", PYTHON3_SHIM)):
        script = bin_dir / name
        script.write_text(string.Template(template).substitute(values))
        script.chmod(0o755)
    return bin_dir


def log_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_fake_gcloud_runs_the_command_on_every_worker_up_to_tpustrategy(tmp_path):
    bin_dir = fake_cloud(tmp_path, workers=2)
    run_dir = tmp_path / "run"
    completed = launch_tpu_vm(
        *OPTIONS, "--run-dir", str(run_dir), "--", "debug=fast", cwd=tmp_path,
        path=f"{bin_dir}:{os.environ['PATH']}", TF_CONFIG='{"stray": "from the login shell"}',
    )  # fmt: skip
    # Both workers' train failed on the missing TPU; gcloud passes the status on.
    assert completed.returncode == 2, completed.stdout + completed.stderr
    calls = log_lines(tmp_path / "gcloud.log")
    assert [call[:5] for call in calls] == [
        ["compute", "tpus", "queued-resources", "create", "whisper-tpu"],
        ["compute", "tpus", "queued-resources", "describe", "whisper-tpu"],
        ["compute", "tpus", "tpu-vm", "ssh", "whisper-tpu"],
    ]
    assert calls[2][-1] == REMOTE.format(run_dir=run_dir)
    shim_calls = log_lines(tmp_path / "python3.log")
    for worker in ("0", "1"):
        mine = [call for call in shim_calls if call["worker"] == worker]
        assert [call["args"][:2] for call in mine] == [
            ["-m", "pip"], ["-m", "pip"], ["-m", "launch.worker"], ["-m", "train"]
        ]  # fmt: skip
        train = mine[-1]
        assert train["args"] == [
            "-m", "train", "debug=fast", "strategy=tpu", "strategy.tpu=local", f"run_dir={run_dir}"
        ]  # fmt: skip
        assert train["WHISPER_CLUSTER"] == "tpu-vm" and train["TF_CONFIG"] is None
        output = (tmp_path / f"worker-{worker}.log").read_text()
        assert "Error: Config key strategy.kind: No TPU available for strategy 'tpu'" in output
        assert "Traceback" not in output
    record_path = tmp_path / "outputs" / "launch" / "tpu-vm" / "whisper-tpu" / "launch.json"
    record = json.loads(record_path.read_text())
    assert record["engine"] == "tpu-vm" and record["run_dir"] == str(run_dir)
    assert record["artifact"]["commands"][2][-1] == REMOTE.format(run_dir=run_dir)
