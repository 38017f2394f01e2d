"""Cloud TPU VM: a queued resource, then install and train on every worker over gcloud ssh.

`python -m launch tpu-vm --tpu-name NAME --zone Z --accelerator-type v5litepod-8
--run-dir /mnt/runs/a -- debug=fast` runs, in order:

1. `gcloud compute tpus queued-resources create NAME --node-id NAME ...`
   (with `--spot` or `--best-effort` when asked);
2. `gcloud compute tpus queued-resources describe NAME ...` until the
   resource is ACTIVE (it fails on FAILED or SUSPENDED);
3. `gcloud compute tpus tpu-vm ssh NAME --worker=all --command '...'`: on every
   worker, pip installs this project at a commit (`whisper-keras[tpu]` from
   git, libtpu from Google's find-links page, keras-hub without its
   dependencies), then runs `python3 -m launch.worker -- python3 -m train
   strategy=tpu strategy.tpu=local ... run_dir=...` with WHISPER_CLUSTER=tpu-vm,
   so no stray TF_CONFIG reaches TPUStrategy.

Every worker of a slice runs the same command, as gcloud's `--worker=all`
does; that is verified here for one-host slices only (no TPU was available
where this was written). The run directory is a path on the VM: train writes
checkpoints with atomic renames, which object stores (gs://) lack, so for a
run that must outlive the TPU, or a multi-host slice, mount a shared file
system (e.g. Filestore over NFS) at the same path on every host. launch.json
and the commands are recorded on this machine under
`outputs/launch/tpu-vm/<TPU name>/`. `--dry-run` prints the commands.

```python
from launch.__main__ import main

main(["tpu-vm", "--dry-run", "--tpu-name", "t1", "--zone", "us-west4-a",
      "--accelerator-type", "v5litepod-8", "--repo-url", "https://example.org/w.git",
      "--commit", "0123abc", "--run-dir", "/mnt/runs/a", "--", "debug=fast"])
```
"""

import os
import shlex
import shutil
import subprocess
import time

from launch.cluster_env import CLUSTER_KIND
from launch.job import DEFAULT_RUNS_ROOT
from launch.job import LaunchError
from launch.launch_record import Submission

# tensorflow-tpu comes from PyPI; the libtpu build it needs only from this page.
LIBTPU_FIND_LINKS = "https://storage.googleapis.com/libtpu-tf-releases/index.html"
# Installed without its dependencies: its tensorflow-text would replace TensorFlow.
KERAS_HUB = "keras-hub==0.32.0"
# Base TPU VM images (no framework preinstalled) per accelerator family.
RUNTIME_VERSIONS = {
    "v5litepod": "v2-alpha-tpuv5-lite",
    "v5p": "v2-alpha-tpuv5",
    "v6e": "v2-alpha-tpuv6e",
}
DEFAULT_RUNTIME = "tpu-ubuntu2204-base"
# Characters that would end or expand the double-quoted requirement in the remote shell.
UNSAFE_IN_QUOTES = '"$`\\'
ACTIVE, FAILED_STATES = "ACTIVE", ("FAILED", "SUSPENDED")


def add_arguments(parser):
    parser.add_argument("--tpu-name", required=True, help="queued resource and TPU node id")
    parser.add_argument("--zone", required=True)
    parser.add_argument("--accelerator-type", required=True, help="e.g. v5litepod-8, v4-16")
    parser.add_argument(
        "--runtime-version",
        help=f"TPU VM image (default by family: {RUNTIME_VERSIONS}, else {DEFAULT_RUNTIME})",
    )
    parser.add_argument("--project", help="Google Cloud project (default: gcloud's)")
    capacity = parser.add_mutually_exclusive_group()
    capacity.add_argument("--spot", action="store_true", help="Spot capacity (preemptible)")
    capacity.add_argument("--best-effort", action="store_true", help="best-effort capacity")
    parser.add_argument("--repo-url", help="git URL to install from (default: origin's)")
    parser.add_argument("--commit", help="commit to install (default: this checkout's HEAD)")
    parser.add_argument(
        "--poll-seconds", type=float, default=30.0, help="wait between state checks (default 30)"
    )


def launch(job, options):
    run_dir = _remote_run_dir(job)
    commands = TpuCommands(options, install_line(options), train_line(job))
    if not job.dry_run and shutil.which("gcloud") is None:
        raise LaunchError("gcloud is not on PATH: install the Google Cloud CLI, or use --dry-run.")
    record_dir = os.path.abspath(os.path.join(DEFAULT_RUNS_ROOT, "tpu-vm", options.tpu_name))
    submission = Submission(job, "tpu-vm", record_dir=record_dir)
    for command in (commands.create(), commands.describe(), commands.ssh()):
        submission.add_command(command)
    submission.commit()
    if job.dry_run:
        return 0
    print(f"Recorded in {record_dir}; run directory {run_dir}", flush=True)
    created = subprocess.run(commands.create())
    if created.returncode != 0:
        return created.returncode
    _wait_until_active(commands, options.poll_seconds)
    return subprocess.run(commands.ssh()).returncode


class TpuCommands:
    """The gcloud command lines of one launch."""

    def __init__(self, options, install, train):
        self.options = options
        self.remote_command = f"{install} && {train}"

    def create(self):
        options = self.options
        capacity = ["--spot"] if options.spot else ["--best-effort"] if options.best_effort else []
        return [
            *_gcloud("queued-resources", "create", options),
            f"--node-id={options.tpu_name}",
            f"--accelerator-type={options.accelerator_type}",
            f"--runtime-version={runtime_version(options)}",
            *capacity,
        ]

    def describe(self):
        return [
            *_gcloud("queued-resources", "describe", self.options),
            "--format=value(state.state)",
        ]

    def ssh(self):
        return [
            *_gcloud("tpu-vm", "ssh", self.options),
            "--worker=all",
            "--command",
            self.remote_command,
        ]


def runtime_version(options):
    family = options.accelerator_type.rpartition("-")[0]
    return options.runtime_version or RUNTIME_VERSIONS.get(family, DEFAULT_RUNTIME)


def install_line(options):
    """The shell line that installs this project's commit on a worker."""
    requirement = f"whisper-keras[tpu] @ git+{_repo_url(options)}@{_commit(options)}"
    if any(char in requirement for char in UNSAFE_IN_QUOTES):
        raise LaunchError(f"--repo-url and --commit must not contain any of {UNSAFE_IN_QUOTES!r}.")
    return (
        f'python3 -m pip install "{requirement}" -f {LIBTPU_FIND_LINKS}'
        f" && python3 -m pip install --no-deps {KERAS_HUB}"
    )


def train_line(job):
    """The shell line every worker trains with."""
    command = job.worker_command("strategy=tpu", "strategy.tpu=local", python="python3")
    return f"{CLUSTER_KIND}=tpu-vm {shlex.join(command)}"


def _gcloud(group, verb, options):
    project = [f"--project={options.project}"] if options.project else []
    return [
        "gcloud",
        "compute",
        "tpus",
        group,
        verb,
        options.tpu_name,
        f"--zone={options.zone}",
        *project,
    ]


def _remote_run_dir(job):
    if not job.run_dir_given:
        raise LaunchError(
            "tpu-vm needs --run-dir PATH: a directory on the TPU VM (on a multi-host "
            "slice, a shared mount every host sees at that path)."
        )
    return job.run_dir


def _repo_url(options):
    if options.repo_url:
        return options.repo_url
    return _git("remote", "get-url", "origin", missing="no git remote 'origin': give --repo-url")


def _commit(options):
    return options.commit or _git("rev-parse", "HEAD", missing="no git HEAD: give --commit")


def _git(*arguments, missing):
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    completed = subprocess.run(
        ["git", "-C", checkout, *arguments], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0 or not completed.stdout.strip():
        raise LaunchError(f"{missing} (the workers pip install the code from git).")
    return completed.stdout.strip()


def _wait_until_active(commands, poll_seconds):
    while True:
        described = subprocess.run(commands.describe(), capture_output=True, text=True)
        state = described.stdout.strip()
        if described.returncode != 0:
            raise LaunchError(
                f"`{shlex.join(commands.describe())}` failed: {described.stderr.strip()}"
            )
        if state == ACTIVE:
            return
        if state in FAILED_STATES:
            raise LaunchError(f"queued resource {commands.options.tpu_name} is {state}.")
        print(f"Queued resource state {state or 'unknown'}; waiting.", flush=True)
        time.sleep(poll_seconds)
