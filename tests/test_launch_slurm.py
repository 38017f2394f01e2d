"""`python -m launch slurm` submitting real jobs to a real two-node Slurm cluster.

The cluster (tests/slurm_cluster.py) runs on this machine: nodes n1 and n2 at
127.0.0.1, two CPUs and two fake GPUs each. Every job is submitted from the
command line, trains with debug=fast (offline) and is waited for through
`scontrol`; a failing test prints the job's log.
"""

import json
import pathlib
import re
import subprocess
import sys
import time

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401 (the fixture)
from train_cli import ROOT
from train_cli import train_environment

TRAIN = ("debug=fast", "tracker=console")
# Job states after which a job runs no more (`scontrol show job`).
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
JOB_TIMEOUT_S = 420


@pytest.fixture
def slurm_env(slurm_cluster):  # noqa: F811 (the fixture imported above)
    return train_environment(SLURM_CONF=slurm_cluster["SLURM_CONF"])


def launch_slurm(env, *arguments):
    return subprocess.run(
        [sys.executable, "-m", "launch", "slurm", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def submitted_job(completed):
    """The job id `python -m launch slurm` printed."""
    assert completed.returncode == 0, completed.stdout + completed.stderr
    match = re.search(r"Submitted Slurm (?:job|job array) (\d+)", completed.stdout)
    assert match, completed.stdout
    return match[1]


def job_states(env, job_id):
    """[(JobState, Restarts)] of the job, one pair per array task."""
    output = subprocess.run(
        ["scontrol", "--oneliner", "show", "job", job_id],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        (re.search(r"\bJobState=(\S+)", line)[1], int(re.search(r"\bRestarts=(\d+)", line)[1]))
        for line in output.splitlines()
        if "JobState=" in line
    ]


def wait_for_job(env, job_id, logs, timeout=JOB_TIMEOUT_S):
    """Polls until every task of the job has ended; returns `job_states`."""
    deadline = time.monotonic() + timeout
    while True:
        states = job_states(env, job_id)
        if all(state in FINAL_STATES for state, _ in states):
            return states
        if time.monotonic() > deadline:
            subprocess.run(["scancel", job_id], env=env)
            pytest.fail(f"Slurm job {job_id} still {states} after {timeout} s:\n{read_logs(logs)}")
        time.sleep(2)


def read_logs(paths):
    return "\n".join(
        f"--- {path}:\n{path.read_text(errors='replace')[-6000:]}"
        for path in map(pathlib.Path, paths)
        if path.exists()
    )


def assert_completed(states, logs):
    assert states and all(state == "COMPLETED" for state, _ in states), (
        f"{states}\n{read_logs(logs)}"
    )


def assert_exported(run_dir, log):
    text = log.read_text()
    assert "Held-out WER" in text, read_logs([log])
    assert (run_dir / "preset" / "config.json").exists(), read_logs([log])


def rendered_script(dry_run_output):
    """The sbatch script a --dry-run printed."""
    match = re.search(r"# would write \S+/job\.sbatch:\n(.*?)\n# would ", dry_run_output, re.S)
    assert match, dry_run_output
    return match[1] + "\n"


def test_bad_options_are_one_line_errors():
    for options, message in [
        (["--nodes", "0"], "--nodes must be at least 1, not 0."),
        (["--signal", "USR1@60"], "write B:SIGNAL[@SECONDS]"),
        (["--sbatch=constraint=a100"], "give one sbatch option"),
        (["--max-parallel", "0"], "--max-parallel must be at least 1"),
    ]:
        completed = launch_slurm(train_environment(), "--dry-run", *options, "--", *TRAIN)
        assert completed.returncode == 2, completed.stderr
        assert completed.stderr.startswith("Error: ") and message in completed.stderr
        assert len(completed.stderr.splitlines()) == 1, completed.stderr


def test_dry_run_prints_a_script_that_sbatch_accepts(slurm_env, tmp_path):
    run_dir = tmp_path / "run"
    options = ["--dry-run", "--run-dir", str(run_dir), "--nodes", "2", "--time", "5"]
    completed = launch_slurm(
        slurm_env,
        *options,
        "--gpus-per-task",
        "1",
        "--mem",
        "1G",
        "--sbatch=--comment=dry",
        "--max-parallel",
        "1",
        "--",
        *TRAIN,
        "seed=0,1,2",
    )
    assert completed.returncode == 0, completed.stderr
    assert not run_dir.exists()
    script = rendered_script(completed.stdout)
    for line in [
        "#SBATCH --nodes=2",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --mem=1G",
        "#SBATCH --time=5",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --requeue",
        "#SBATCH --array=0-2%1",
        "#SBATCH --comment=dry",
        f"#SBATCH --output={run_dir}/%a/slurm-%A_%a.out",
        "export WHISPER_CLUSTER=slurm",
        "trap on_preemption_warning USR1",
    ]:
        assert line in script.splitlines(), script
    assert f"strategy=multi_worker run_dir={run_dir}/2) ;;" in script
    assert f"# would run: sbatch --parsable {run_dir}/launch/job.sbatch" in completed.stdout
    script_path = tmp_path / "job.sbatch"
    script_path.write_text(script)
    test_only = subprocess.run(
        ["sbatch", "--test-only", str(script_path)], env=slurm_env, capture_output=True, text=True
    )
    assert test_only.returncode == 0 and "to start at" in test_only.stderr, test_only.stderr
    # The check is real: three GPUs per task fit on no node (each has two).
    script_path.write_text(script.replace("--gpus-per-task=1", "--gpus-per-task=3"))
    too_many = subprocess.run(
        ["sbatch", "--test-only", str(script_path)], env=slurm_env, capture_output=True, text=True
    )
    assert too_many.returncode != 0, too_many.stderr
    assert not run_dir.exists()


@pytest.mark.slow
def test_two_node_job_trains_and_exports(slurm_env, tmp_path):
    run_dir = tmp_path / "run"
    completed = launch_slurm(
        slurm_env, "--run-dir", str(run_dir), "--nodes", "2", "--time", "6", "--", *TRAIN
    )
    job_id = submitted_job(completed)
    log = run_dir / f"slurm-{job_id}.out"
    assert f"log: {log}" in completed.stdout
    assert_completed(wait_for_job(slurm_env, job_id, [log]), [log])
    assert_exported(run_dir, log)
    text = log.read_text()
    ranks = dict(
        re.findall(
            r"^(\d): launch\.worker: rank \1 of 2 \(slurm\), listening on (\S+)$", text, re.M
        )
    )
    assert sorted(ranks) == ["0", "1"] and len(set(ranks.values())) == 2, text[:3000]
    # srun --label: rank 1 all-reduced gradients with rank 0, the chief, which reports.
    assert re.search(r"^1: .*Collective all_reduce tensors", text, re.M), text[-3000:]
    assert re.search(r"^0: Held-out WER", text, re.M), text[-3000:]
    record = json.loads((run_dir / "launch.json").read_text())
    assert record["engine"] == "slurm"
    script = record["artifact"]["files"][str(run_dir / "launch" / "job.sbatch")]
    assert "srun --kill-on-bad-exit=1 --label --distribution=block" in script
    assert "strategy=multi_worker" in script


@pytest.mark.slow
def test_each_task_gets_its_own_gpu(slurm_env, tmp_path):
    # The real worker entry point runs; in place of training, this "python"
    # prints what each rank sees.
    python = tmp_path / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "-m launch.worker" ]; then exec {sys.executable} "$@"; fi\n'
        'echo "rank=$SLURM_PROCID node=$SLURMD_NODENAME gpus=$CUDA_VISIBLE_DEVICES '
        'tf_config=$TF_CONFIG"\n'
    )
    python.chmod(0o755)
    run_dir = tmp_path / "run"
    completed = launch_slurm(
        slurm_env,
        "--run-dir",
        str(run_dir),
        "--nodes",
        "2",
        "--tasks-per-node",
        "2",
        "--gpus-per-task",
        "1",
        "--time",
        "2",
        "--python",
        str(python),
        "--",
        *TRAIN,
    )
    job_id = submitted_job(completed)
    log = run_dir / f"slurm-{job_id}.out"
    assert_completed(wait_for_job(slurm_env, job_id, [log], timeout=120), [log])
    seen = re.findall(r"rank=(\d) node=(\S+) gpus=(\S*) tf_config=(.*)$", log.read_text(), re.M)
    assert len(seen) == 4, log.read_text()
    for node in ("n1", "n2"):
        assert sorted(gpus for _, name, gpus, _ in seen if name == node) == ["0", "1"], seen
    for rank, _, _, tf_config in seen:
        config = json.loads(tf_config)
        assert config["task"]["index"] == int(rank)
        assert len(set(config["cluster"]["worker"])) == 4


@pytest.mark.slow
def test_sweep_is_one_array_job_with_a_run_directory_per_point(slurm_env, tmp_path):
    run_dir = tmp_path / "sweep"
    completed = launch_slurm(
        slurm_env, "--run-dir", str(run_dir), "--time", "6", "--", *TRAIN, "seed=0,1"
    )
    job_id = submitted_job(completed)
    assert f"job array {job_id} (0-1%2)" in completed.stdout
    logs = [run_dir / str(index) / f"slurm-{job_id}_{index}.out" for index in (0, 1)]
    states = wait_for_job(slurm_env, job_id, logs)
    assert len(states) == 2
    assert_completed(states, logs)
    for index, log in enumerate(logs):
        assert_exported(run_dir / str(index), log)
        assert f"array task {index}," in log.read_text()
        config = json.loads((run_dir / str(index) / "run.json").read_text())["config"]
        assert config["seed"] == index


@pytest.mark.slow
def test_preempted_job_is_requeued_and_resumes(slurm_env, tmp_path):
    run_dir = tmp_path / "run"
    steps = ["trainer.steps=20", "trainer.eval_every_steps=20", "trainer.checkpoint_every_steps=20"]
    completed = launch_slurm(
        slurm_env, "--run-dir", str(run_dir), "--time", "8", "--", *TRAIN, *steps
    )
    job_id = submitted_job(completed)
    log = run_dir / f"slurm-{job_id}.out"
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not (log.exists() and " | loss " in log.read_text()):
        assert time.monotonic() < deadline, read_logs([log])
        time.sleep(1)
    # What Slurm sends before a time limit or a preemption (--signal=B:USR1@120).
    subprocess.run(["scancel", "--signal=USR1", "--batch", job_id], env=slurm_env, check=True)
    states = wait_for_job(slurm_env, job_id, [log])
    assert states == [("COMPLETED", 1)], f"{states}\n{read_logs([log])}"
    text = log.read_text()
    stopped = re.search(r"Stopped by SIGTERM after step (\d+)", text)
    resumed = re.search(r"Resumed from \S+ at step (\d+)", text)
    assert stopped and resumed and stopped[1] == resumed[1], read_logs([log])
    assert "SLURM_RESTART_COUNT=0" in text and "SLURM_RESTART_COUNT=1" in text
    assert f"requeueing job {job_id}" in text
    assert_exported(run_dir, log)


@pytest.mark.slow
def test_hydra_submitit_launcher_runs_each_point_through_the_worker(slurm_env, tmp_path):
    sweep_dir = tmp_path / "multirun"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "-m",
            "hydra/launcher=submitit_slurm",
            f"hydra.sweep.dir={sweep_dir}",
            "hydra.launcher.timeout_min=6",
            *TRAIN,
            "seed=0,1",
        ],
        cwd=ROOT,
        env=slurm_env,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )
    logs = sorted(sweep_dir.glob(".submitit/*_*/*_log.out"))
    assert completed.returncode == 0, completed.stderr[-3000:] + read_logs(logs)
    assert len(logs) == 2, logs
    assert len({log.parent.name.split("_")[0] for log in logs}) == 1, "not one array job"
    for log in logs:
        assert log.read_text().startswith("launch.worker: rank 0 of 1 (slurm)"), read_logs([log])
    for index in (0, 1):
        assert (sweep_dir / str(index) / "preset" / "config.json").exists(), read_logs(logs)
    script = next(sweep_dir.glob(".submitit/*/*_submission.sh")).read_text()
    assert "#SBATCH --array=0-1%2" in script and "export WHISPER_CLUSTER=slurm" in script
