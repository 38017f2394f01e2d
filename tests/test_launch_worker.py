"""`python -m launch.worker`: TF_CONFIG from each engine's environment, before TensorFlow.

The Slurm cases use Slurm's real variable formats; the node addresses come
from a table here instead of `scontrol`, which the real-cluster tests in
test_launch_slurm.py exercise.
"""

import json
import subprocess
import sys

import pytest
from train_cli import ROOT

from launch.cluster import ClusterError
from launch.cluster_env import cluster_of_environment
from launch.cluster_env import kubernetes_workers
from launch.slurm_cluster import expand_nodelist
from launch.slurm_cluster import expand_tasks_per_node
from launch.slurm_cluster import port_base
from launch.sweep import expand_sweep
from launch.worker import worker_environment

NODE_ADDRESSES = {"n1": "10.0.0.1", "n2": "10.0.0.2", "gpu07": "10.0.0.7"}


def addresses(names):
    return [NODE_ADDRESSES[name] for name in names]


def slurm_env(rank, nodelist="n[1-2]", tasks="2(x2)", total="4", job_id="7"):
    return {
        "SLURM_PROCID": str(rank),
        "SLURM_STEP_NUM_TASKS": total,
        "SLURM_STEP_NODELIST": nodelist,
        "SLURM_STEP_TASKS_PER_NODE": tasks,
        "SLURM_JOB_ID": job_id,
    }


def run_worker(env, *command):
    return subprocess.run(
        [sys.executable, "-m", "launch.worker", "--", *command],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_slurm_ranks_fill_each_node_in_turn_on_its_node_address():
    cluster = cluster_of_environment(slurm_env(rank=2), addresses)
    assert cluster.tf_config() == {
        "cluster": {
            "worker": ["10.0.0.1:20448", "10.0.0.1:20449", "10.0.0.2:20448", "10.0.0.2:20449"]
        },
        "task": {"type": "worker", "index": 2},
    }


def test_two_slurm_jobs_on_one_node_get_different_ports():
    first = cluster_of_environment(slurm_env(0, "n1", "2", "2", job_id="41"), addresses)
    second = cluster_of_environment(slurm_env(0, "n1", "2", "2", job_id="42"), addresses)
    assert set(first.workers).isdisjoint(second.workers)
    assert port_base({"SLURM_JOB_ID": "42"}) - port_base({"SLURM_JOB_ID": "41"}) == 64
    assert port_base({"SLURM_JOB_ID": "1", "WHISPER_PORT_BASE": "31000"}) == 31000


def test_slurm_host_lists_and_task_counts_expand_as_slurm_writes_them():
    assert expand_nodelist("n[1-2],gpu07") == ["n1", "n2", "gpu07"]
    assert expand_nodelist("a[08-10,12]") == ["a08", "a09", "a10", "a12"]
    assert expand_tasks_per_node("2(x3),1") == [2, 2, 2, 1]
    cluster = cluster_of_environment(slurm_env(4, "n[1-2],gpu07", "2(x2),1", "5"), addresses)
    assert cluster.workers[4] == "10.0.0.7:20448"


def test_slurm_counts_that_disagree_are_named():
    with pytest.raises(ClusterError, match="SLURM_STEP_NUM_TASKS=3 but tasks per node"):
        cluster_of_environment(slurm_env(0, total="3"), addresses)


def test_local_indexed_job_and_jobset_list_their_workers():
    local = {"WHISPER_CLUSTER": "local", "WHISPER_WORKERS": "a:1,b:2", "WHISPER_RANK": "1"}
    assert cluster_of_environment(local).tf_config()["task"]["index"] == 1
    names = ["train-0.train", "train-1.train"]
    assert kubernetes_workers(names) == ["train-0.train:2222", "train-1.train:2223"]
    for kind in ("indexed-job", "jobset"):
        env = {
            "WHISPER_CLUSTER": kind,
            "WHISPER_WORKERS": ",".join(kubernetes_workers(names)),
            "JOB_COMPLETION_INDEX": "0",
        }
        cluster = cluster_of_environment(env)
        assert cluster.workers == ("train-0.train:2222", "train-1.train:2223")
        assert cluster.rank == 0


def test_the_kind_is_inferred_without_whisper_cluster():
    assert cluster_of_environment({}) is None
    tf_config = json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}})
    assert cluster_of_environment({"TF_CONFIG": tf_config}) is None
    indexed = {"JOB_COMPLETION_INDEX": "1", "WHISPER_WORKERS": "a:1,b:1"}
    assert cluster_of_environment(indexed).origin == "indexed-job"
    assert cluster_of_environment(slurm_env(0), addresses).origin == "slurm"


def test_tfjob_keeps_the_operators_tf_config_and_tpu_vm_drops_it():
    tf_config = json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}})
    env, cluster = worker_environment({"WHISPER_CLUSTER": "tfjob", "TF_CONFIG": tf_config})
    assert cluster is None and env["TF_CONFIG"] == tf_config
    env, _ = worker_environment({"WHISPER_CLUSTER": "tpu-vm", "TF_CONFIG": tf_config})
    assert "TF_CONFIG" not in env


@pytest.mark.parametrize(
    "env, message",
    [
        ({"WHISPER_CLUSTER": "mesos"}, "WHISPER_CLUSTER='mesos' is not one of"),
        ({"WHISPER_CLUSTER": "local", "WHISPER_RANK": "0"}, "must list every worker as host:port"),
        (
            {"WHISPER_CLUSTER": "local", "WHISPER_WORKERS": "a:1", "WHISPER_RANK": "3"},
            "rank 3 is outside the 1 workers",
        ),
        ({"WHISPER_CLUSTER": "tfjob", "TF_CONFIG": "{"}, "tfjob: TF_CONFIG='{' is not a cluster"),
        (
            {"WHISPER_CLUSTER": "local", "WHISPER_WORKERS": "n1.invalid:1", "WHISPER_RANK": "0"},
            "worker host 'n1.invalid' does not resolve",
        ),
    ],
)
def test_a_bad_cluster_is_one_line_before_tensorflow(env, message):
    completed = run_worker(env, sys.executable, "-c", "import tensorflow")
    assert completed.returncode == 2
    assert completed.stderr.startswith("Error: ") and message in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1


def test_the_worker_sets_tf_config_and_runs_the_command_in_its_place():
    env = {"WHISPER_CLUSTER": "local", "WHISPER_WORKERS": "127.0.0.1:5,localhost:6"}
    completed = run_worker({**env, "WHISPER_RANK": "1"}, "sh", "-c", 'echo "$TF_CONFIG"; echo $$')
    tf_config = json.loads(completed.stdout.splitlines()[0])
    assert tf_config["task"] == {"type": "worker", "index": 1}
    assert "launch.worker: rank 1 of 2 (local), listening on localhost:6" in completed.stderr


def test_sweeps_expand_comma_lists_only_at_the_top_level():
    assert expand_sweep(["a=1,2", "b=[x,y]", "c=3,4"]) == [
        ["a=1", "b=[x,y]", "c=3"],
        ["a=1", "b=[x,y]", "c=4"],
        ["a=2", "b=[x,y]", "c=3"],
        ["a=2", "b=[x,y]", "c=4"],
    ]
    assert expand_sweep(["notes='a,b'"]) == [["notes='a,b'"]]
