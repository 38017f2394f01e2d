"""Submit to Slurm with sbatch: srun on every rank, requeue on preemption, sweeps as arrays.

    python -m launch slurm --nodes 2 --tasks-per-node 1 --gpus-per-task 1 --time 4:00:00 \\
        --run-dir /shared/runs/a -- trainer.steps=5000

renders `<run_dir>/launch/job.sbatch` (see `launch.slurm_script`), records
it in launch.json and submits it with `sbatch --parsable`; it prints the job
id and where the log goes (`<run_dir>/slurm-<job id>.out`). A job of more
than one rank gets `strategy=multi_worker`. A sweep (`key=a,b`) is one job
array, point i in `<run_dir>/i` with its log there (`--max-parallel` points
at a time). `--dry-run` prints the script and the sbatch command only.
Extra `#SBATCH` lines: `--sbatch=--constraint=a100` (repeatable).
"""

import argparse
import os
import shutil
import subprocess
import sys

from launch.job import LaunchError
from launch.launch_record import Submission
from launch.slurm_script import SIGNAL_PATTERN
from launch.slurm_script import SlurmResources
from launch.slurm_script import render_script
from launch.sweep import expand_sweep

SCRIPT_NAME = "job.sbatch"
MULTI_WORKER = "strategy=multi_worker"


def add_arguments(parser):
    parser.add_argument("--nodes", type=int, default=1, help="nodes per job (default 1)")
    parser.add_argument("--tasks-per-node", type=int, default=1, help="ranks per node (default 1)")
    parser.add_argument("--gpus-per-task", type=int, help="GPUs bound to each rank")
    parser.add_argument("--cpus-per-task", type=int, default=1, help="CPUs per rank (default 1)")
    parser.add_argument("--mem", help="memory per node, as sbatch takes it (e.g. 32G)")
    parser.add_argument("--time", help="time limit, as sbatch takes it (e.g. 4:00:00)")
    parser.add_argument("--partition", help="Slurm partition")
    parser.add_argument("--account", help="Slurm account to charge")
    parser.add_argument("--job-name", default="whisper-train", help="default whisper-train")
    parser.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="LINE",
        help="an extra #SBATCH line, e.g. --sbatch=--constraint=a100 (repeatable)",
    )
    parser.add_argument(
        "--signal",
        default="B:USR1@120",
        help="preemption warning the script traps: B:SIG@SECONDS before the time limit "
        "(default B:USR1@120)",
    )
    parser.add_argument(
        "--requeue",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="requeue the job after the warning, to resume (default: --requeue)",
    )
    parser.add_argument("--max-parallel", type=int, help="array points running at once")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help=f"Python on the nodes (default: this one, {sys.executable})",
    )


def launch(job, options):
    resources = resources_of(options)
    points = expand_sweep(job.overrides)
    jobs = [job] if len(points) == 1 else _point_jobs(job, points)
    extra = _multi_worker_override(job, resources)
    commands = [point.worker_command(*extra, python=options.python) for point in jobs]
    if len(jobs) == 1:
        log_path, array = os.path.join(job.run_dir, "slurm-%j.out"), None
    else:
        parallel = min(options.max_parallel or len(jobs), len(jobs))
        log_path = os.path.join(job.run_dir, "%a", "slurm-%A_%a.out")
        array = f"0-{len(jobs) - 1}%{parallel}"
    submission = Submission(job, "slurm")
    script = submission.add_file(SCRIPT_NAME, render_script(resources, commands, log_path, array))
    sbatch = ["sbatch", "--parsable", script]
    submission.add_command(sbatch)
    submission.commit()
    if job.dry_run:
        return 0
    for point in jobs:
        # Slurm opens each array task's log in its run directory; it must exist.
        os.makedirs(point.run_dir, exist_ok=True)
    job_id = submit(sbatch)
    shown = log_path.replace("%A", job_id).replace("%j", job_id)
    kind = f"job array {job_id} ({array})" if array else f"job {job_id}"
    print(f"Submitted Slurm {kind}; log: {shown}; run directory: {job.run_dir}")
    return 0


def resources_of(options):
    """The options as `SlurmResources`; a bad one is a `LaunchError`."""
    for name in ("nodes", "tasks_per_node", "cpus_per_task", "gpus_per_task", "max_parallel"):
        value = getattr(options, name)
        if value is not None and value < 1:
            raise LaunchError(f"--{name.replace('_', '-')} must be at least 1, not {value}.")
    if not SIGNAL_PATTERN.fullmatch(options.signal):
        raise LaunchError(
            f"--signal {options.signal!r}: write B:SIGNAL[@SECONDS] (e.g. B:USR1@120); "
            "B: sends it to the batch script, which traps it."
        )
    for line in options.sbatch:
        if not line.startswith("-") or "\n" in line:
            raise LaunchError(
                f"--sbatch {line!r}: give one sbatch option, e.g. --sbatch=--constraint=a100."
            )
    return SlurmResources(
        nodes=options.nodes,
        tasks_per_node=options.tasks_per_node,
        cpus_per_task=options.cpus_per_task,
        gpus_per_task=options.gpus_per_task,
        mem=options.mem,
        time=options.time,
        partition=options.partition,
        account=options.account,
        job_name=options.job_name,
        signal=options.signal,
        requeue=options.requeue,
        extra_lines=tuple(options.sbatch),
    )


def submit(sbatch):
    """Runs `sbatch --parsable`; returns the job id."""
    if shutil.which(sbatch[0]) is None:
        raise LaunchError("sbatch is not on PATH: run this on a Slurm login node.")
    completed = subprocess.run(sbatch, capture_output=True, text=True)
    if completed.returncode != 0:
        reason = " ".join(completed.stderr.split()) or f"exit status {completed.returncode}"
        raise LaunchError(f"sbatch failed: {reason}")
    # --parsable prints "JOBID" or "JOBID;CLUSTER".
    return completed.stdout.strip().split(";")[0]


def _point_jobs(job, points):
    return [
        job.with_overrides(point, os.path.join(job.run_dir, str(index)))
        for index, point in enumerate(points)
    ]


def _multi_worker_override(job, resources):
    chooses_strategy = any(o.lstrip("+").startswith("strategy=") for o in job.overrides)
    return (MULTI_WORKER,) if resources.ranks > 1 and not chooses_strategy else ()
