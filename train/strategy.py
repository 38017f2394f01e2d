"""Builds the `tf.distribute.Strategy` a run trains under.

One entry point, `build_strategy(kind, ...)`, for the four ways a run spreads
over devices:

- "default": one device, the first GPU if there is one, else the CPU.
- "mirrored": every local GPU, one replica each (synchronous data
  parallelism). On a machine without GPUs, `num_cpu_devices > 1` splits the
  CPU into that many logical devices, which is how data parallelism is tested
  on a laptop.
- "multi_worker": `MultiWorkerMirroredStrategy` across processes or hosts.
  The cluster comes from `TF_CONFIG`, set before TensorFlow is imported;
  `python -m launch.worker` sets it from the local launcher's, Slurm's or
  Kubernetes' environment.
- "tpu": `TPUStrategy` on a Cloud TPU VM (`tpu="local"`) or a TPU reachable by
  name or grpc address. No TPU was available where this was written: only the
  error path without a TPU is tested.

Every process of a run calls `build_strategy` first, before building models
or datasets, because TensorFlow fixes its devices the first time it uses them.
"""

import functools
import os

import tensorflow as tf

from train.choices import STRATEGY_KINDS


def build_strategy(kind="default", *, num_cpu_devices=None, cluster_resolver=None, tpu=None):
    """A `tf.distribute.Strategy` of the given kind.

    Args:
        kind: "default", "mirrored", "multi_worker" or "tpu" (see the module
            docstring).
        num_cpu_devices: for "mirrored" on a machine without GPUs: split the
            CPU into this many logical devices, one replica each.
        cluster_resolver: for "multi_worker": a
            `tf.distribute.cluster_resolver.ClusterResolver`, or None for the
            `TF_CONFIG` environment variable.
        tpu: for "tpu": "local" on a TPU VM, else a TPU name or grpc address.
    """
    if kind == "default":
        return tf.distribute.OneDeviceStrategy(_first_device())
    if kind == "mirrored":
        return _mirrored_strategy(num_cpu_devices)
    if kind == "multi_worker":
        return _multi_worker_strategy(cluster_resolver)
    if kind == "tpu":
        return _tpu_strategy(tpu)
    raise ValueError(f"Unknown strategy kind {kind!r}: use one of {STRATEGY_KINDS}.")


def is_chief(strategy):
    """Whether this process writes files (checkpoints, logs, exports).

    Under "multi_worker" every process runs the same program and holds the
    same weights, so exactly one, the chief, writes; every other strategy runs
    in a single process, which is its own chief.
    """
    # MultiWorkerMirroredStrategy answers True here only on the chief (the
    # "chief" task, else worker 0); the other strategies always do.
    return strategy.extended.should_checkpoint


def _first_device():
    if tf.config.list_physical_devices("GPU"):
        return "/gpu:0"
    return "/cpu:0"


def _mirrored_strategy(num_cpu_devices):
    if tf.config.list_physical_devices("GPU"):
        if num_cpu_devices is not None:
            raise ValueError(
                f"num_cpu_devices={num_cpu_devices} is for machines without "
                "GPUs; this one has GPUs, which 'mirrored' uses: leave it unset."
            )
        return tf.distribute.MirroredStrategy()
    if num_cpu_devices is None:
        num_cpu_devices = 1
    devices = [device.name for device in split_cpu(num_cpu_devices)]
    return tf.distribute.MirroredStrategy(devices)


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices; returns them.

    TensorFlow allows this only before it first uses a device, so it must
    come before any model, variable or tensor is made in this process.
    """
    if not (isinstance(num_devices, int) and num_devices >= 1):
        raise ValueError(f"num_cpu_devices must be a positive int, got {num_devices!r}.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * num_devices
    if num_devices > 1 and tf.config.get_logical_device_configuration(cpu) != wanted:
        try:
            tf.config.set_logical_device_configuration(cpu, wanted)
        except RuntimeError as error:
            raise RuntimeError(
                f"Cannot split the CPU into num_cpu_devices={num_devices} logical "
                "devices: TensorFlow has already initialized its devices in this "
                "process. Call build_strategy before building models, variables "
                "or datasets."
            ) from error
    return tf.config.list_logical_devices("CPU")


def _multi_worker_strategy(cluster_resolver):
    if cluster_resolver is not None:
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=cluster_resolver)
    if "TF_CONFIG" not in os.environ:
        raise ValueError(
            "strategy 'multi_worker' needs the TF_CONFIG environment variable (the cluster "
            "and this task) before TensorFlow is imported: start every worker with "
            "`python -m launch.worker -- python -m train ...`, which sets it."
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu_strategy(tpu):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        if tpu != "local":
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except Exception as error:
        raise RuntimeError(
            f"No TPU available for strategy 'tpu' with tpu={tpu!r} "
            f"({type(error).__name__}: {error}). Use tpu='local' on a Cloud TPU "
            "VM, or a TPU name or grpc:// address reachable from this machine."
        ) from error
    return tf.distribute.TPUStrategy(resolver)


def any_worker(strategy, flag):
    """Whether `flag` is true on any worker; every worker gets the same answer.

    Only MultiWorkerMirroredStrategy spans processes; elsewhere this
    process is the only one and `flag` is the answer.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return bool(flag)
    return bool(_vote_counter(strategy)(tf.constant(float(flag))) > 0)


@functools.cache
def _vote_counter(strategy):
    """A compiled all-reduce of one vote per worker (it runs every step, and an
    eager collective costs far more than the traced one)."""

    @tf.function
    def count_votes(vote):
        votes = strategy.run(tf.identity, args=(vote,))
        # ReduceOp has only SUM and MEAN: any vote makes the sum positive.
        return strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None)

    return count_votes


def wait_for_every_worker(strategy):
    """Returns once every worker has called it (elsewhere at once).

    A worker about to exit waits here for the chief to finish writing: under
    `srun --kill-on-bad-exit` the first worker to exit ends the others.
    """
    any_worker(strategy, False)


def gather_from_workers(strategy, row):
    """Every worker's `row` (a 1-D NumPy array of one length), as a 2-D array.

    Under MultiWorkerMirroredStrategy an all-gather, so every worker must
    call it; its replicas on one worker give copies of that worker's row.
    Elsewhere, this process's row alone.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return row[None]
    rows = strategy.run(lambda: tf.constant(row)[None])
    return strategy.gather(rows, axis=0).numpy()
