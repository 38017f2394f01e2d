"""launch.json: what a launch ran and wrote, so a job can be understood and redone.

Every launch records, in `<run_dir>/launch.json`: the launcher's command
line, the engine, the git commit of the code, the installed package versions
and the rendered artifact (script, manifests, commands). Files the engine
renders go into `<run_dir>/launch/`. With `--dry-run` the same text is
printed instead and nothing is written or run.

```python
from launch.job import Job
from launch.launch_record import Submission

job = Job.create(["trainer.steps=10"], run_dir="/tmp/runs/b", dry_run=True)
submission = Submission(job, "local")
submission.add_command(job.worker_command())
submission.commit()  # prints what would be written and run
```
"""

import datetime
import importlib.metadata
import os
import shlex
import sys

from train.tracking import current_git_state
from train.tracking import redact_secrets
from whisper.utils.json_io import write_json

LAUNCH_RECORD = "launch.json"
ARTIFACT_DIR = "launch"
# Distributions whose versions decide whether a job can be rerun as it was.
RECORDED_DISTRIBUTIONS = (
    "whisper-keras",
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-tpu",
    "keras",
    "keras-hub",
    "hydra-core",
    "numpy",
)


class Submission:
    """The files and commands of one launch, written and recorded together."""

    def __init__(self, job, engine, record_dir=None):
        """`record_dir`: where the files and launch.json go when the run directory
        is not on this machine (a bucket, a volume in the cluster); default the run
        directory."""
        self.job = job
        self.engine = engine
        self.record_dir = record_dir or job.run_dir
        self.files = {}
        self.commands = []

    def add_file(self, name, text):
        """A file the engine renders; returns its absolute path under the run directory."""
        path = os.path.join(self.record_dir, ARTIFACT_DIR, name)
        self.files[path] = text
        return path

    def add_command(self, argv):
        """A command the launch runs (or the job runs on every rank)."""
        self.commands.append([str(argument) for argument in argv])

    def record(self):
        return redact_secrets(
            {
                "engine": self.engine,
                "command": [sys.executable, "-m", "launch", *self.job.argv],
                "run_dir": self.job.run_dir,
                "created_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                **current_git_state(os.path.dirname(os.path.abspath(__file__))),
                "versions": installed_versions(),
                "artifact": {"files": self.files, "commands": self.commands},
            }
        )

    def commit(self):
        """Writes the files and launch.json, or with --dry-run prints them."""
        record_path = os.path.join(self.record_dir, LAUNCH_RECORD)
        if self.job.dry_run:
            self._print_plan(record_path)
            return
        for path, text in self.files.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as file:
                file.write(text)
        os.makedirs(self.record_dir, exist_ok=True)
        write_json(record_path, self.record())

    def _print_plan(self, record_path):
        for path, text in self.files.items():
            print(f"# would write {path}:")
            print(text.rstrip("\n"))
        for command in self.commands:
            print(f"# would run: {shlex.join(command)}")
        print(f"# would write {record_path} (launch.json); nothing was written or run.")


def installed_versions(distributions=RECORDED_DISTRIBUTIONS):
    """Versions of those `distributions` that are installed, and Python's."""
    versions = {"python": sys.version.split()[0]}
    for name in distributions:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
