"""The sbatch script of a Slurm launch: #SBATCH lines, srun on every rank, preemption.

The script exports WHISPER_CLUSTER=slurm (so `launch.worker` builds each
rank's TF_CONFIG from Slurm's variables), prints the job id and
SLURM_RESTART_COUNT, and runs the worker command of its point of the sweep
(chosen by SLURM_ARRAY_TASK_ID in a job array) with
`srun --kill-on-bad-exit=1 --label --distribution=block`. On the preemption
warning (`--signal=B:USR1@120`: USR1 to this script 120 s before the end)
it sends SIGTERM to the training step, whose ranks save a checkpoint and
exit 143 (stopped, not finished), waits for them and, with requeue on, runs
`scontrol requeue`: the job runs again with the same run directory and
resumes.

```python
from launch.slurm_script import SlurmResources, render_script

resources = SlurmResources(nodes=2, tasks_per_node=1, signal="B:USR1@120")
print(render_script(resources, [["python", "-m", "launch.worker", "--", "python",
                                 "-m", "train", "run_dir=/runs/a"]], "/runs/a/slurm-%j.out"))
```
"""

import dataclasses
import re
import shlex

# `--signal=B:SIG@SECONDS`: B: sends it to this script (which traps it),
# not to the ranks (which only stop cleanly on SIGTERM).
SIGNAL_PATTERN = re.compile(r"B:(?:SIG)?(?P<name>[A-Z0-9]+)(?:@\d+)?")


@dataclasses.dataclass(frozen=True)
class SlurmResources:
    """What the job asks Slurm for; None leaves a setting to the cluster's default."""

    nodes: int = 1
    tasks_per_node: int = 1
    cpus_per_task: int = 1
    gpus_per_task: int | None = None
    mem: str | None = None
    time: str | None = None
    partition: str | None = None
    account: str | None = None
    job_name: str = "whisper-train"
    signal: str = "B:USR1@120"
    requeue: bool = True
    extra_lines: tuple = ()

    @property
    def ranks(self):
        return self.nodes * self.tasks_per_node

    @property
    def signal_name(self):
        """The signal the script traps (USR1 of B:USR1@120)."""
        return SIGNAL_PATTERN.fullmatch(self.signal)["name"]


def sbatch_directives(resources, log_path, array=None):
    """The `#SBATCH` options, in order; `array` is `0-(N-1)%P` for a sweep."""
    settings = [
        ("job-name", resources.job_name),
        ("nodes", resources.nodes),
        ("ntasks-per-node", resources.tasks_per_node),
        ("cpus-per-task", resources.cpus_per_task),
        ("gpus-per-task", resources.gpus_per_task),
        ("mem", resources.mem),
        ("time", resources.time),
        ("partition", resources.partition),
        ("account", resources.account),
        ("signal", resources.signal),
        ("output", log_path),
        # A requeued job appends to its log instead of replacing it.
        ("open-mode", "append"),
        ("array", array),
    ]
    directives = [f"--{name}={value}" for name, value in settings if value is not None]
    directives.append("--requeue" if resources.requeue else "--no-requeue")
    return directives + list(resources.extra_lines)


def render_script(resources, worker_commands, log_path, array=None):
    """The whole sbatch script; one worker command per point, indexed by array task."""
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH {directive}" for directive in sbatch_directives(resources, log_path, array)]
    lines += [
        "# Written by `python -m launch slurm`; its record is launch.json in the run directory.",
        "set -u",
        "export WHISPER_CLUSTER=slurm",
        "# Every line reaches the log as it is printed, not when a buffer fills.",
        "export PYTHONUNBUFFERED=1",
        'echo "launch.slurm: job ${SLURM_JOB_ID}, array task ${SLURM_ARRAY_TASK_ID:-none}, '
        'SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0}"',
        "",
        *_choose_worker(worker_commands),
        "",
        *_preemption_trap(resources),
        "",
        f'srun {" ".join(_srun_options(resources))} "${{worker[@]}}" &',
        "step=$!",
        "status=0",
        'wait "$step" || status=$?',
        'if [ -n "$preempted" ]; then',
        "  # The trap interrupted the wait; this one returns the step's own status.",
        "  status=0",
        '  wait "$step" || status=$?',
        *_after_preemption(resources),
        "fi",
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"


def _choose_worker(worker_commands):
    if len(worker_commands) == 1:
        return [f"worker=({shlex.join(worker_commands[0])})"]
    cases = [
        f"  {index}) worker=({shlex.join(command)}) ;;"
        for index, command in enumerate(worker_commands)
    ]
    return ['case "$SLURM_ARRAY_TASK_ID" in', *cases, "esac"]


def _srun_options(resources):
    options = ["--kill-on-bad-exit=1", "--label", "--distribution=block"]
    # srun does not take --cpus-per-task from the allocation (Slurm 22.05 on).
    options.append(f"--cpus-per-task={resources.cpus_per_task}")
    if resources.gpus_per_task is not None:
        options.append(f"--gpus-per-task={resources.gpus_per_task}")
    return options


def _preemption_trap(resources):
    name = resources.signal_name
    return [
        'preempted=""',
        "on_preemption_warning() {",
        "  preempted=1",
        f'  echo "launch.slurm: SIG{name} (preemption warning): SIGTERM to the ranks, '
        'which save a checkpoint"',
        "  # scancel signals the job's steps, not this script; SIGTERM to srun",
        "  # itself would make it kill the ranks before they save.",
        '  scancel --signal=TERM "$SLURM_JOB_ID"',
        "}",
        f"trap on_preemption_warning {name}",
    ]


def _after_preemption(resources):
    if not resources.requeue:
        return ['  echo "launch.slurm: ranks stopped with status $status; not requeued"']
    return [
        '  echo "launch.slurm: ranks stopped with status $status; requeueing job $SLURM_JOB_ID"',
        '  scontrol requeue "$SLURM_JOB_ID"',
    ]
