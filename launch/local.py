"""local: N worker processes on this machine, one log per worker, fail-fast.

`python -m launch local --num-workers 2 -- trainer.steps=100` starts two
`python -m launch.worker -- python -m train ...` processes on 127.0.0.1,
each with its own free port. Every line they print appears here prefixed
`[worker i]` and in `<run_dir>/logs/worker-i.log`. When one worker fails,
the others get SIGTERM (training checkpoints and stops), then SIGKILL after
`--grace-period` seconds, and the launcher exits with the failed worker's
status, naming it. SIGTERM or Ctrl-C to the launcher is passed on to the
workers, which save a checkpoint at the same step and stop (143 or 130); a
second Ctrl-C kills them at once. Running the same command with the same
`--run-dir` resumes.
A sweep (`key=a,b`) runs its points one after another, each in
`<run_dir>/<index>`.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from launch.cluster_env import CLUSTER_KIND
from launch.cluster_env import RANK
from launch.cluster_env import TF_CONFIG
from launch.cluster_env import WORKERS
from launch.job import LaunchError
from launch.launch_record import Submission
from launch.sweep import expand_sweep

LOGS_DIR = "logs"
HOST = "127.0.0.1"
POLL_SECONDS = 0.2
# Variables of an outer engine that would make a worker join the wrong cluster.
OUTER_CLUSTER_VARIABLES = (
    TF_CONFIG,
    "SLURM_PROCID",
    "SLURM_STEP_NUM_TASKS",
    "JOB_COMPLETION_INDEX",
)


def add_arguments(parser):
    parser.add_argument("--num-workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--grace-period",
        type=float,
        default=60.0,
        help="seconds between SIGTERM and SIGKILL when stopping workers (default 60)",
    )
    parser.add_argument("--python", default=sys.executable, help="the workers' interpreter")


def launch(job, options):
    if options.num_workers < 1:
        raise LaunchError(f"--num-workers {options.num_workers}: use 1 or more.")
    if options.grace_period < 0:
        raise LaunchError(f"--grace-period {options.grace_period}: use 0 or more seconds.")
    points = expand_sweep(job.overrides)
    for index, overrides in enumerate(points):
        run_dir = os.path.join(job.run_dir, str(index)) if len(points) > 1 else job.run_dir
        status = _launch_point(job.with_overrides(overrides, run_dir), options)
        if status != 0:
            return status
    return 0


def _launch_point(job, options):
    extra = ("strategy=multi_worker",) if options.num_workers > 1 else ()
    command = job.worker_command(*extra, python=options.python)
    addresses = [f"{HOST}:{port}" for port in free_ports(options.num_workers)]
    submission = Submission(job, "local")
    for rank in range(options.num_workers):
        variables = _cluster_variables(addresses, rank)
        submission.add_command(["env", *(f"{k}={v}" for k, v in variables.items()), *command])
    submission.commit()
    if job.dry_run:
        return 0
    print(f"Run directory: {job.run_dir} (the same command with --run-dir resumes it)")
    workers = WorkerGroup(command, addresses, os.path.join(job.run_dir, LOGS_DIR))
    return workers.run(options.grace_period)


def free_ports(count):
    """`count` distinct ports free on 127.0.0.1 now (held open together while chosen)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _cluster_variables(addresses, rank):
    if len(addresses) == 1:
        return {}
    return {CLUSTER_KIND: "local", WORKERS: ",".join(addresses), RANK: str(rank)}


class WorkerGroup:
    """The worker processes of one launch, their logs, and stopping them together."""

    def __init__(self, command, addresses, logs_dir):
        self.command = command
        self.addresses = addresses
        self.logs_dir = logs_dir
        self.processes = []
        self.log_paths = []
        self._printers = []

    def run(self, grace_period):
        """Starts every worker, waits, and returns the exit status of the launch."""
        os.makedirs(self.logs_dir, exist_ok=True)
        stop = _StopSignal()
        with stop:
            for rank in range(len(self.addresses)):
                self._start(rank)
            failed = self._wait_for_failure_or_end(stop)
            if failed is not None or stop.signal_number:
                self._stop_all(grace_period, stop)
        for printer in self._printers:
            printer.join()
        if stop.signal_number and failed is None:
            print(self._describe_stop(stop))
            return 128 + stop.signal_number
        if failed is not None:
            return self._report_failure(failed)
        return 0

    def _start(self, rank):
        env = {k: v for k, v in os.environ.items() if k not in OUTER_CLUSTER_VARIABLES}
        env.update(_cluster_variables(self.addresses, rank))
        env["PYTHONUNBUFFERED"] = "1"
        log_path = os.path.join(self.logs_dir, f"worker-{rank}.log")
        process = subprocess.Popen(
            self.command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session: Ctrl-C reaches the launcher only, which passes it
            # on (a second one kills them), so that no worker dies unsaved.
            start_new_session=True,
        )
        printer = threading.Thread(target=_copy_lines, args=(process.stdout, rank, log_path))
        printer.start()
        self.processes.append(process)
        self.log_paths.append(log_path)
        self._printers.append(printer)

    def _wait_for_failure_or_end(self, stop):
        while not stop.signal_number:
            statuses = [process.poll() for process in self.processes]
            for rank, status in enumerate(statuses):
                if status not in (None, 0):
                    return rank
            if all(status == 0 for status in statuses):
                return None
            time.sleep(POLL_SECONDS)
        return None

    def _stop_all(self, grace_period, stop):
        """Passes the launcher's stop signal (SIGTERM after a worker failed)
        to the running workers; kills those still running after
        `grace_period`, or at a second Ctrl-C."""
        signal_number = stop.signal_number or signal.SIGTERM
        running = [process for process in self.processes if process.poll() is None]
        for process in running:
            process.send_signal(signal_number)
        deadline = time.monotonic() + grace_period
        while any(process.poll() is None for process in running):
            if time.monotonic() > deadline or stop.interrupts > 1:
                for process in running:
                    if process.poll() is None:
                        process.kill()
                break
            time.sleep(POLL_SECONDS)
        for process in running:
            process.wait()

    def _describe_stop(self, stop):
        name = signal.Signals(stop.signal_number).name
        if stop.interrupts > 1:
            return f"Stopped every worker at once on a second {name}: no new checkpoint."
        saved = all(process.returncode == 128 + stop.signal_number for process in self.processes)
        if saved:
            return (
                f"Stopped every worker on {name}: each saved a checkpoint. "
                "The same command resumes."
            )
        return f"Stopped every worker on {name}."

    def _report_failure(self, rank):
        status = self.processes[rank].returncode
        how = (
            f"was killed by {signal.Signals(-status).name}"
            if status < 0
            else f"exited with status {status}"
        )
        print(
            f"Error: worker {rank} {how}; stopped the other workers. Its log: "
            f"{self.log_paths[rank]}. The same command resumes from the last checkpoint.",
            file=sys.stderr,
        )
        return 128 - status if status < 0 else status


def _copy_lines(stream, rank, log_path):
    prefix = f"[worker {rank}] "
    with open(log_path, "a") as log:
        for line in iter(stream.readline, b""):
            text = line.decode(errors="replace")
            log.write(text)
            log.flush()
            sys.stdout.write(prefix + text)
            sys.stdout.flush()
    stream.close()


class _StopSignal:
    """Catches SIGINT and SIGTERM to the launcher while workers run: the
    first one's number, and how many SIGINTs came."""

    signal_number = 0
    interrupts = 0

    def __enter__(self):
        self._previous = {
            number: signal.signal(number, self._catch) for number in (signal.SIGINT, signal.SIGTERM)
        }
        return self

    def _catch(self, number, frame):
        self.signal_number = self.signal_number or number
        self.interrupts += number == signal.SIGINT

    def __exit__(self, *exc_info):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
