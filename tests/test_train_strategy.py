"""build_strategy's kinds and errors, and is_chief.

Runs that need a process of their own (two logical CPU devices, two
MultiWorkerMirroredStrategy workers) are in test_train_step.py, where they
also check the trained weights; there "mirrored" reports 2 replicas and
"multi_worker" makes worker 0 the only chief.
"""

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from train import strategy as strategy_module
from train.strategy import build_strategy
from train.strategy import is_chief


def test_default_is_one_device_and_its_own_chief():
    strategy = build_strategy("default")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1
    assert is_chief(strategy)


def test_unknown_kind_names_the_allowed_kinds():
    with pytest.raises(ValueError) as error:
        build_strategy("gpus")
    assert str(error.value) == (
        "Unknown strategy kind 'gpus': use one of ('default', 'mirrored', 'multi_worker', 'tpu')."
    )


def test_tpu_without_a_tpu_raises_a_clear_error():
    with pytest.raises(RuntimeError) as error:
        build_strategy("tpu", tpu=None)
    assert "No TPU available for strategy 'tpu' with tpu=None" in str(error.value)
    assert "tpu='local' on a Cloud TPU VM" in str(error.value)


def test_multi_worker_without_a_cluster_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("SLURM_STEP_NUM_TASKS", raising=False)
    with pytest.raises(ValueError, match="found no cluster: set TF_CONFIG"):
        build_strategy("multi_worker")
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        build_strategy("multi_worker", cluster_resolver="tf_config")


def test_multi_worker_rejects_an_unknown_cluster_resolver():
    with pytest.raises(ValueError, match="Unknown cluster_resolver 'kubernetes'"):
        build_strategy("multi_worker", cluster_resolver="kubernetes")


def test_slurm_on_cpu_nodes_gives_every_task_a_port(monkeypatch):
    # Two tasks on one CPU node, this process the second: TensorFlow's own
    # defaults fail here ("range() arg 3 must not be zero").
    monkeypatch.setattr(strategy_module.shutil, "which", lambda name: None)
    for name, value in {
        "SLURM_PROCID": "1",
        "SLURM_STEP_NUM_TASKS": "2",
        "SLURM_STEP_NODELIST": "node7",
        "SLURM_STEP_TASKS_PER_NODE": "2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    resolver = strategy_module.slurm_cluster_resolver(port_base=9000)
    assert resolver.cluster_spec().as_dict() == {"worker": ["node7:9000", "node7:9001"]}
    assert resolver.get_task_info() == ("worker", 1)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_multi_worker_under_slurm_on_a_cpu_node(tmp_path):
    # A process of its own: a MultiWorkerMirroredStrategy reconfigures
    # TensorFlow's runtime for good. One task, found without TF_CONFIG.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        from train.strategy import build_strategy, is_chief
        strategy = build_strategy("multi_worker", slurm_port_base={port})
        print(isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
              strategy.num_replicas_in_sync, is_chief(strategy),
              strategy.cluster_resolver.cluster_spec().as_dict())
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(
        SLURM_PROCID="0",
        SLURM_STEP_NUM_TASKS="1",
        SLURM_STEP_NODELIST="localhost",
        SLURM_STEP_TASKS_PER_NODE="1",
        PATH=str(tmp_path),  # no nvidia-smi: a CPU node
    )
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repository,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    last_line = completed.stdout.strip().splitlines()[-1]
    assert last_line == (f"True 1 True {{'worker': ['localhost:{port}']}}")


def test_slurm_outside_slurm_says_to_use_srun(monkeypatch):
    monkeypatch.setattr(strategy_module.shutil, "which", lambda name: None)
    monkeypatch.delenv("SLURM_STEP_NUM_TASKS", raising=False)
    with pytest.raises(RuntimeError, match="launch with srun"):
        build_strategy("multi_worker", cluster_resolver="slurm")


def test_splitting_the_cpu_after_tensorflow_started_explains_why_it_failed():
    tf.config.list_logical_devices()  # TensorFlow has now fixed its devices
    with pytest.raises(RuntimeError, match="already initialized its devices"):
        build_strategy("mirrored", num_cpu_devices=2)


def test_num_cpu_devices_must_be_a_positive_int():
    with pytest.raises(ValueError, match="num_cpu_devices must be a positive int, got 0"):
        build_strategy("mirrored", num_cpu_devices=0)
