"""build_strategy's kinds and errors, and is_chief.

Runs that need a process of their own (two logical CPU devices, two
MultiWorkerMirroredStrategy workers) are in test_train_step.py, where they
also check the trained weights; there "mirrored" reports 2 replicas and
"multi_worker" makes worker 0 the only chief.
"""

import pytest
import tensorflow as tf

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
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable") as error:
        build_strategy("multi_worker")
    assert "python -m launch.worker" in str(error.value)


def test_splitting_the_cpu_after_tensorflow_started_explains_why_it_failed():
    tf.config.list_logical_devices()  # TensorFlow has now fixed its devices
    with pytest.raises(RuntimeError, match="already initialized its devices"):
        build_strategy("mirrored", num_cpu_devices=2)


def test_num_cpu_devices_must_be_a_positive_int():
    with pytest.raises(ValueError, match="num_cpu_devices must be a positive int, got 0"):
        build_strategy("mirrored", num_cpu_devices=0)
