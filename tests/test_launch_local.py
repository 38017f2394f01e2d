"""`python -m launch local`: workers on 127.0.0.1, prefixed output, fail-fast, resume.

Also what a multi-worker run does when a worker dies (the survivor exits
with one line; the launcher names the dead worker) or hangs (TensorFlow's
coordination heartbeats end the survivor within a measured time).
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from launch_cli import TINY_TRAIN
from launch_cli import run_launch
from launch_cli import start_launch
from launch_cli import worker_pids
from train_cli import ROOT
from train_cli import train_environment

from launch.local import free_ports
from train.worker_loss import WORKER_LOST_STATUS


def first_checkpoint(run_dir, process, after_step=0, timeout=600):
    """Waits for a checkpoint of a step past `after_step`; returns its step."""
    deadline = time.monotonic() + timeout
    while True:
        steps = [
            int(path.rpartition("-")[2]) for path in glob.glob(f"{run_dir}/checkpoints/step-*")
        ]
        if max(steps, default=0) > after_step:
            return max(steps)
        assert process.poll() is None, "the job ended before the checkpoint"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.longest
def test_a_killed_worker_stops_the_job_naming_it_ctrl_c_saves_and_the_same_command_resumes(
    tmp_path,
):
    run_dir = tmp_path / "run"
    arguments = (
        "local", "--num-workers", "2", "--grace-period", "120", "--run-dir", str(run_dir), "--",
        *TINY_TRAIN, "trainer.steps=12", "trainer.eval_every_steps=100",
    )  # fmt: skip
    with open(tmp_path / "first.log", "w") as log:
        launcher = start_launch(*arguments, stdout=log)
        killed_after_step = first_checkpoint(run_dir, launcher)
        killed_at = time.monotonic()
        os.kill(worker_pids(launcher.pid)[1], signal.SIGKILL)
        status = launcher.wait(timeout=300)
        stopped_after = time.monotonic() - killed_at
    output = (tmp_path / "first.log").read_text()
    assert status == 128 + signal.SIGKILL, output[-3000:]
    assert "Error: worker 1 was killed by SIGKILL; stopped the other workers." in output
    # The survivor's own last word is one line, not a traceback.
    survivor = (run_dir / "logs" / "worker-0.log").read_text()
    assert "Error: lost contact with another worker" in survivor or "Stopped by SIGTERM" in survivor
    assert "Traceback" not in survivor
    print(f"the job stopped {stopped_after:.1f} s after worker 1 was killed")
    assert stopped_after < 120

    # The same command, then Ctrl-C once a step is done: the launcher passes
    # it on, every worker saves a checkpoint at the same step and stops.
    with open(tmp_path / "second.log", "w") as log:
        launcher = start_launch(*arguments, stdout=log)
        first_checkpoint(run_dir, launcher, after_step=killed_after_step)
        launcher.send_signal(signal.SIGINT)
        status = launcher.wait(timeout=300)
    output = (tmp_path / "second.log").read_text()
    assert status == 130, output[-3000:]
    stops = re.findall(r"\[worker (\d)\] Stopped by Ctrl-C \(SIGINT\) after step (\d+)", output)
    assert sorted(rank for rank, _ in stops) == ["0", "1"] and stops[0][1] == stops[1][1], stops
    assert (run_dir / "checkpoints" / f"step-{int(stops[0][1]):09d}").is_dir()
    assert "Stopped every worker on SIGINT: each saved a checkpoint." in output
    assert "Traceback" not in output

    # The same command: both workers resume, train to the end and export,
    # and leave together (no heartbeat error from the coordination service).
    resumed = run_launch(*arguments)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-2000:]
    assert not re.search(r"\] E\d{4} |crashed", resumed.stdout + resumed.stderr)
    assert "[worker 0] Resumed from" in resumed.stdout
    assert "[worker 0] Held-out WER" in resumed.stdout
    assert "[worker 1] launch.worker: rank 1 of 2 (local)" in resumed.stdout
    for rank in (0, 1):
        assert f"rank {rank} of 2" in (run_dir / "logs" / f"worker-{rank}.log").read_text()
    assert (run_dir / "preset" / "config.json").exists()
    record = json.loads((run_dir / "launch.json").read_text())
    assert record["engine"] == "local" and record["run_dir"] == str(run_dir)
    assert len(record["git_commit"]) == 40 and "keras" in record["versions"]
    commands = record["artifact"]["commands"]
    assert [command[3] for command in commands] == ["WHISPER_RANK=0", "WHISPER_RANK=1"]
    assert all(f"run_dir={run_dir}" in command for command in commands)


def test_a_second_ctrl_c_to_the_launcher_kills_the_workers_at_once(tmp_path):
    # Workers that ignore the first Ctrl-C passed on to them (as a training
    # step in progress would, for minutes): the second one must not wait.
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\ntrap '' INT\necho started\nexec sleep 600\n")
    fake_python.chmod(0o755)
    arguments = ("local", "--num-workers", "2", "--grace-period", "600")
    with open(tmp_path / "launch.log", "w") as log:
        launcher = start_launch(
            *arguments, "--python", str(fake_python), "--run-dir", str(tmp_path / "run"), "--",
            stdout=log,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while (tmp_path / "launch.log").read_text().count("started") < 2:
            assert launcher.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        launcher.send_signal(signal.SIGINT)
        time.sleep(0.5)
        launcher.send_signal(signal.SIGINT)
        status = launcher.wait(timeout=30)
    output = (tmp_path / "launch.log").read_text()
    assert status == 130, output
    assert "Stopped every worker at once on a second SIGINT: no new checkpoint." in output
    assert not worker_pids(launcher.pid)


@pytest.mark.slow
def test_a_hung_worker_ends_the_survivor_through_heartbeats_in_bounded_time(tmp_path):
    # No launcher: nothing stops the survivor but TensorFlow noticing that its
    # peer (frozen with SIGSTOP, its connections still open) stopped sending
    # heartbeats to the coordination service.
    run_dir = tmp_path / "run"
    workers = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
    processes = []
    for rank in range(2):
        env = train_environment(
            WHISPER_CLUSTER="local", WHISPER_WORKERS=workers, WHISPER_RANK=str(rank)
        )
        command = [
            sys.executable, "-m", "launch.worker", "--", sys.executable, "-m", "train",
            "strategy=multi_worker", *TINY_TRAIN, "trainer.steps=200",
            "trainer.eval_every_steps=1000", f"run_dir={run_dir}",
        ]  # fmt: skip
        with open(tmp_path / f"worker-{rank}.log", "w") as log:
            processes.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
    try:
        first_checkpoint(run_dir, processes[0])
        os.kill(processes[1].pid, signal.SIGSTOP)
        hung_at = time.monotonic()
        status = processes[0].wait(timeout=300)
        detected_after = time.monotonic() - hung_at
    finally:
        processes[1].kill()
        processes[1].wait()
    survivor = (tmp_path / "worker-0.log").read_text()
    assert status == WORKER_LOST_STATUS, survivor[-3000:]
    [line] = [line for line in survivor.splitlines() if line.startswith("Error: ")]
    assert "lost contact with another worker" in line and "stopped sending heartbeats" in line
    assert "relaunch every worker with the same command to resume" in line
    assert "Traceback" not in survivor
    print(f"the survivor exited {detected_after:.1f} s after its peer hung")
    assert detected_after < 180


def test_dry_run_prints_every_worker_command_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    completed = run_launch(
        "local", "--num-workers", "2", "--dry-run", "--run-dir", str(run_dir), "--", "seed=3"
    )
    assert completed.returncode == 0, completed.stderr
    commands = [line for line in completed.stdout.splitlines() if line.startswith("# would run: ")]
    assert len(commands) == 2
    assert (
        "WHISPER_RANK=1" in commands[1]
        and f"seed=3 strategy=multi_worker run_dir={run_dir}" in commands[1]
    )
    assert f"# would write {run_dir}/launch.json" in completed.stdout
    assert not run_dir.exists()


def test_a_sweep_runs_each_point_in_its_own_run_directory(tmp_path):
    completed = run_launch(
        "local", "--dry-run", "--run-dir", str(tmp_path), "--", "seed=1,2", "trainer.steps=3"
    )
    assert completed.returncode == 0, completed.stderr
    assert f"seed=1 trainer.steps=3 run_dir={tmp_path}/0" in completed.stdout
    assert f"seed=2 trainer.steps=3 run_dir={tmp_path}/1" in completed.stdout


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--num-workers", "0"], "Error: --num-workers 0: use 1 or more."),
        (["--grace-period", "-1"], "Error: --grace-period -1.0: use 0 or more seconds."),
        (["--", "lr=choice(1,2)"], "the launcher expands comma lists only; write lr=a,b,c."),
    ],
)
def test_bad_options_are_one_line(arguments, message, tmp_path):
    completed = run_launch("local", "--dry-run", "--run-dir", str(tmp_path), *arguments)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [completed.stderr.strip()]
    assert message in completed.stderr and "Traceback" not in completed.stderr
