"""The cluster of a Slurm job step, from Slurm's own variables and `scontrol`.

TensorFlow's SlurmClusterResolver cannot be used: on nodes without NVIDIA
GPUs it fails, it gives every job on a node the same ports (a second job
there cannot start its gRPC server), and it uses node names, which need not
resolve. Here:

- the ranks are SLURM_PROCID, placed on the step's nodes
  (SLURM_STEP_NODELIST) in blocks of SLURM_STEP_TASKS_PER_NODE, as srun
  places them with `--distribution=block`;
- each node's address is its NodeAddr from `scontrol show node`;
- ports start at a base taken from SLURM_JOB_ID, so jobs sharing a node
  differ, plus each task's index on its node (`port_base`); nodes that
  share an address (several slurmd on one host) count on from each other.

```python
from launch.slurm_cluster import slurm_cluster

env = {"SLURM_PROCID": "3", "SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]",
       "SLURM_STEP_TASKS_PER_NODE": "2(x2)", "SLURM_STEP_NUM_TASKS": "4"}
nodes = {"n1": "10.0.0.1", "n2": "10.0.0.2"}
print(slurm_cluster(env, lambda names: [nodes[name] for name in names]).workers)
# ('10.0.0.1:20448', '10.0.0.1:20449', '10.0.0.2:20448', '10.0.0.2:20449')
```
"""

import re
import subprocess

from launch.cluster import Cluster
from launch.cluster import ClusterError

PORT_FLOOR = 20000
PORT_CEILING = 60000
# Ports each job may use on a node: one per task on that node.
MAX_TASKS_PER_NODE = 64
PORT_BASE_ENV = "WHISPER_PORT_BASE"


def slurm_cluster(env, node_addresses=None):
    """The `Cluster` of this Slurm task (see the module docstring)."""
    node_addresses = node_addresses or scontrol_node_addresses
    rank = _required_integer(env, "SLURM_PROCID")
    nodes = expand_nodelist(_first(env, "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST"))
    tasks = expand_tasks_per_node(_first(env, "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"))
    if len(tasks) != len(nodes):
        raise ClusterError(
            f"slurm: {len(nodes)} nodes {nodes} but tasks per node {tasks}: "
            "the node list and SLURM_STEP_TASKS_PER_NODE disagree."
        )
    total = _required_integer(env, "SLURM_STEP_NUM_TASKS")
    if sum(tasks) != total:
        raise ClusterError(
            f"slurm: SLURM_STEP_NUM_TASKS={total} but tasks per node {tasks} add to {sum(tasks)}."
        )
    base = port_base(env)
    addresses = node_addresses(nodes)
    return Cluster(tuple(_host_ports(addresses, tasks, base)), rank, "slurm")


def _host_ports(addresses, tasks, base):
    """host:port of every rank: ports count up from `base` per address, so nodes
    that share an address (several slurmd on one host) do not collide."""
    workers, taken = [], {}
    for address, count in zip(addresses, tasks):
        for _ in range(count):
            workers.append(f"{address}:{base + taken.get(address, 0)}")
            taken[address] = taken.get(address, 0) + 1
    return workers


def port_base(env):
    """This job's first port on every node: WHISPER_PORT_BASE, else from SLURM_JOB_ID."""
    if env.get(PORT_BASE_ENV):
        return _required_integer(env, PORT_BASE_ENV)
    slots = (PORT_CEILING - PORT_FLOOR) // MAX_TASKS_PER_NODE
    return PORT_FLOOR + (_required_integer(env, "SLURM_JOB_ID") % slots) * MAX_TASKS_PER_NODE


def expand_nodelist(nodelist):
    """Slurm's compressed host list ("n[1-3,5],gpu07") as names, in order."""
    names = []
    for group in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", nodelist):
        prefix, bracket, rest = group.partition("[")
        if not bracket:
            names.append(group)
            continue
        ranges, _, suffix = rest.partition("]")
        for item in ranges.split(","):
            first, dash, last = item.partition("-")
            if not dash:
                names.append(f"{prefix}{first}{suffix}")
                continue
            width = len(first)
            names += [f"{prefix}{n:0{width}d}{suffix}" for n in range(int(first), int(last) + 1)]
    if not names:
        raise ClusterError(f"slurm: the node list {nodelist!r} names no nodes.")
    return names


def expand_tasks_per_node(value):
    """SLURM_STEP_TASKS_PER_NODE ("2(x3),1") as a count per node ([2, 2, 2, 1])."""
    counts = []
    for item in value.split(","):
        match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", item.strip())
        if not match:
            raise ClusterError(f"slurm: tasks per node {value!r} is not Slurm's 'N(xM),K' form.")
        counts += [int(match[1])] * int(match[2] or 1)
    return counts


def scontrol_node_addresses(names):
    """Each node's NodeAddr, as `scontrol show node` reports it."""
    try:
        output = subprocess.run(
            ["scontrol", "--oneliner", "show", "node", ",".join(names)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise ClusterError(f"slurm: `scontrol show node` failed: {error}") from None
    addresses = dict(re.findall(r"NodeName=(\S+).*?\bNodeAddr=(\S+)", output))
    missing = [name for name in names if name not in addresses]
    if missing:
        raise ClusterError(f"slurm: scontrol reports no NodeAddr for nodes {missing}.")
    return [addresses[name] for name in names]


def _first(env, *names):
    for name in names:
        if env.get(name):
            return env[name]
    raise ClusterError(f"slurm: none of {list(names)} is set; run the workers with srun.")


def _required_integer(env, name):
    value = env.get(name, "")
    if not value.isdigit():
        raise ClusterError(f"slurm: {name}={value!r} must be a non-negative integer.")
    return int(value)
