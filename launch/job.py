"""What every engine submits: the train overrides, one run directory, the worker command.

```python
from launch.job import Job

job = Job.create(["trainer.steps=10"], run_dir="/tmp/runs/a", dry_run=True, argv=["local"])
print(job.worker_command(python="python"))
# ['python', '-m', 'launch.worker', '--', 'python', '-m', 'train', 'trainer.steps=10',
#  'run_dir=/tmp/runs/a']
```
"""

import dataclasses
import datetime
import os

RUN_DIR_KEY = "run_dir"
# Where runs go when --run-dir is not given (a new dated directory under it).
DEFAULT_RUNS_ROOT = "outputs/launch"


class LaunchError(Exception):
    """A launch option or engine state that stops the launch; one line for the user."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One submission.

    Attributes:
        overrides: `python -m train` overrides, without `run_dir=`.
        run_dir: absolute run directory every rank and restart shares.
        dry_run: print what would be run or written; change nothing.
        argv: the launcher's own command line, for launch.json.
        run_dir_given: whether the user chose `run_dir` (else a new dated one).
    """

    overrides: tuple
    run_dir: str
    dry_run: bool
    argv: tuple
    run_dir_given: bool = True

    @classmethod
    def create(cls, train_arguments, *, run_dir=None, dry_run=False, argv=()):
        """A job from the arguments after `--`; a `run_dir=` among them wins over
        `run_dir`, and without either the job gets a new dated directory."""
        overrides = []
        for argument in train_arguments:
            key, equals, value = argument.partition("=")
            if equals and key.lstrip("+") == RUN_DIR_KEY:
                run_dir = value
            else:
                overrides.append(argument)
        run_dir_given = run_dir is not None
        return cls(
            overrides=tuple(overrides),
            run_dir=_absolute(run_dir or new_run_dir()),
            dry_run=dry_run,
            argv=tuple(argv),
            run_dir_given=run_dir_given,
        )

    def train_command(self, *extra, python="python", run_dir=None):
        """`python -m train` with the overrides, `extra` and the run directory last."""
        run_dir = run_dir or self.run_dir
        return [python, "-m", "train", *self.overrides, *extra, f"{RUN_DIR_KEY}={run_dir}"]

    def worker_command(self, *extra, python="python", run_dir=None):
        """The command every rank runs: the worker entry point around `train_command`."""
        train = self.train_command(*extra, python=python, run_dir=run_dir)
        return [python, "-m", "launch.worker", "--", *train]

    def with_overrides(self, overrides, run_dir):
        """The same job with other overrides and run directory (a point of a sweep)."""
        return dataclasses.replace(self, overrides=tuple(overrides), run_dir=run_dir)


def _absolute(run_dir):
    if "://" in run_dir:
        raise LaunchError(
            f"--run-dir {run_dir}: a URL; train writes checkpoints with atomic file-system "
            "renames, so give a local path or a shared mount (NFS, Filestore) seen by every rank."
        )
    return os.path.abspath(run_dir)


def new_run_dir(root=DEFAULT_RUNS_ROOT, now=None):
    """A new absolute dated directory under `root` (not created)."""
    now = now or datetime.datetime.now()
    return os.path.abspath(os.path.join(root, now.strftime("%Y-%m-%d_%H-%M-%S")))
