"""The environment variables engines set for `launch.worker`, and the cluster they describe.

An engine tells each rank its cluster in one of these ways:

- `WHISPER_CLUSTER=local` (the local launcher): `WHISPER_WORKERS` lists every
  worker's host:port in rank order, `WHISPER_RANK` is this one.
- `WHISPER_CLUSTER=indexed-job` (a Kubernetes Indexed Job behind a headless
  Service) and `jobset` (a JobSet): `WHISPER_WORKERS` lists the pods' stable
  DNS names, the rank is Kubernetes' `JOB_COMPLETION_INDEX`.
- `WHISPER_CLUSTER=slurm`: Slurm's own variables (see `slurm_cluster`).
- `WHISPER_CLUSTER=tfjob`: Kubeflow's TFJob operator sets TF_CONFIG itself;
  it is kept as it is.
- `WHISPER_CLUSTER=tpu-vm`: TPUStrategy finds the TPU itself; no TF_CONFIG.

Without `WHISPER_CLUSTER` the kind is inferred: TF_CONFIG set means it is
kept, Slurm's job step variables mean Slurm, `JOB_COMPLETION_INDEX` with
`WHISPER_WORKERS` means an Indexed Job, and nothing means one process alone.

```python
from launch.cluster_env import cluster_of_environment

env = {"WHISPER_CLUSTER": "local", "WHISPER_WORKERS": "127.0.0.1:2222,127.0.0.1:2223",
       "WHISPER_RANK": "1"}
print(cluster_of_environment(env).tf_config())
# {'cluster': {'worker': ['127.0.0.1:2222', '127.0.0.1:2223']},
#  'task': {'type': 'worker', 'index': 1}}
```
"""

import json

from launch.cluster import Cluster
from launch.cluster import ClusterError
from launch.slurm_cluster import slurm_cluster

CLUSTER_KIND = "WHISPER_CLUSTER"
WORKERS = "WHISPER_WORKERS"
RANK = "WHISPER_RANK"
TF_CONFIG = "TF_CONFIG"
JOB_COMPLETION_INDEX = "JOB_COMPLETION_INDEX"
CLUSTER_KINDS = ("local", "slurm", "indexed-job", "jobset", "tfjob", "tpu-vm")
# Each Kubernetes worker listens on its own port (base + rank), so the pods'
# commands also run side by side on one host, as the tests run them.
KUBERNETES_BASE_PORT = 2222


def cluster_kind(env):
    """The engine that started this rank: `WHISPER_CLUSTER`, else inferred (see above)."""
    kind = env.get(CLUSTER_KIND)
    if kind:
        if kind not in CLUSTER_KINDS:
            raise ClusterError(f"{CLUSTER_KIND}={kind!r} is not one of {list(CLUSTER_KINDS)}.")
        return kind
    if TF_CONFIG in env:
        return "tfjob"
    if "SLURM_PROCID" in env and "SLURM_STEP_NUM_TASKS" in env:
        return "slurm"
    if JOB_COMPLETION_INDEX in env and WORKERS in env:
        return "indexed-job"
    return None


def cluster_of_environment(env, slurm_nodes=None):
    """The `Cluster` of this rank, or None when TF_CONFIG is to stay as it is
    (TFJob), to be absent (TPU VM, one process alone).

    Args:
        env: the environment (a mapping like os.environ).
        slurm_nodes: for Slurm, a callable from node names to their
            addresses; by default `scontrol` answers.
    """
    kind = cluster_kind(env)
    if kind == "local":
        return Cluster(_workers(env, kind), _integer(env, RANK, kind), kind)
    if kind in ("indexed-job", "jobset"):
        return Cluster(_workers(env, kind), _integer(env, JOB_COMPLETION_INDEX, kind), kind)
    if kind == "slurm":
        return slurm_cluster(env, slurm_nodes)
    if kind == "tfjob":
        _check_tf_config(env)
    return None


def kubernetes_workers(host_names):
    """host:port of each Kubernetes worker, from the pods' DNS names in rank order."""
    return [f"{host}:{KUBERNETES_BASE_PORT + rank}" for rank, host in enumerate(host_names)]


def _workers(env, kind):
    value = env.get(WORKERS, "")
    workers = tuple(item.strip() for item in value.split(",") if item.strip())
    if not workers or not all(_is_host_port(worker) for worker in workers):
        raise ClusterError(
            f"{kind}: {WORKERS}={value!r} must list every worker as host:port, comma-separated."
        )
    return workers


def _is_host_port(worker):
    host, colon, port = worker.rpartition(":")
    return bool(host) and colon == ":" and port.isdigit()


def _integer(env, name, kind):
    value = env.get(name)
    if value is None or not value.isdigit():
        raise ClusterError(f"{kind}: {name}={value!r} must be this worker's rank (0, 1, ...).")
    return int(value)


def _check_tf_config(env):
    try:
        config = json.loads(env.get(TF_CONFIG, ""))
        config["cluster"], config["task"]["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterError(
            f"tfjob: TF_CONFIG={env.get(TF_CONFIG)!r} is not a cluster and task "
            f"({type(error).__name__}); the TFJob operator sets it."
        ) from None
