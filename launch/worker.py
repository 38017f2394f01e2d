"""Every rank's entry point: `python -m launch.worker -- python -m train ...`.

It reads the cluster from its engine's environment (see `launch.cluster_env`),
checks that every worker's host name resolves, sets TF_CONFIG, prints one line
saying which rank of which cluster this is, and then replaces itself with the
command, so signals from the engine (srun, the kubelet, the local launcher)
reach the training process directly. It imports no TensorFlow: a bad cluster
is one line on stderr and exit status 2 within a second.
"""

import json
import os
import socket
import sys

from launch.cluster import ClusterError
from launch.cluster_env import TF_CONFIG
from launch.cluster_env import cluster_kind
from launch.cluster_env import cluster_of_environment

USAGE = "usage: python -m launch.worker -- python -m train [overrides ...]"


def worker_environment(env, slurm_nodes=None, resolve=socket.getaddrinfo):
    """`env` with TF_CONFIG set for this rank; raises `ClusterError` naming what is wrong."""
    env = dict(env)
    cluster = cluster_of_environment(env, slurm_nodes)
    if cluster is None:
        if cluster_kind(env) == "tpu-vm":
            env.pop(TF_CONFIG, None)
        return env, None
    for host in cluster.hosts():
        _check_resolves(host, cluster, resolve)
    env[TF_CONFIG] = json.dumps(cluster.tf_config())
    return env, cluster


def _check_resolves(host, cluster, resolve):
    try:
        resolve(host, None)
    except (OSError, UnicodeError) as error:
        raise ClusterError(
            f"{cluster.origin}: worker host {host!r} does not resolve ({error}); "
            f"cluster {list(cluster.workers)}."
        ) from None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        env, cluster = worker_environment(os.environ)
    except ClusterError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    if cluster is not None:
        print(
            f"launch.worker: rank {cluster.rank} of {len(cluster.workers)} ({cluster.origin}), "
            f"listening on {cluster.workers[cluster.rank]}",
            file=sys.stderr,
            flush=True,
        )
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        print(f"Error: cannot run {argv[0]!r}: {error}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
