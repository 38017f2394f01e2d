"""A real two-node Slurm cluster on this machine, for the slurm engine's tests.

`slurm_cluster` (a session-scoped pytest fixture) starts, under a new
temporary directory, munged (as the munge user, with a key of its own and its
own socket), slurmctld and two slurmd, nodes n1 and n2 at NodeAddr
127.0.0.1 on ports of their own, each with this machine's CPUs and two fake
GPUs (gres on /dev/loop0 and /dev/loop1). It waits until `sinfo` shows both
nodes idle, sets SLURM_CONF for the tests' subprocesses and stops every
daemon at the end of the session. Nothing under /etc is read or written:
every daemon and client reads the temporary slurm.conf.

When SLURM_CONF already names a cluster whose n1 and n2 are up (for example
one started by hand from the config this module writes), that cluster is
used as it is and left running.

Start one by hand, to try the engine (Ctrl-C stops it):

    python tests/slurm_cluster.py
"""

import contextlib
import os
import pathlib
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

INSTALL = "apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge"
DAEMONS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch", "srun", "scontrol", "squeue")
NODES = ("n1", "n2")
PARTITION = "debug"
GPUS_PER_NODE = 2
# How long a requeued job waits before it may start again (Slurm's default
# is 120 s: until the old job credentials expire).
CREDENTIAL_LIFETIME_S = 10
START_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def slurm_cluster():
    """The environment (a dict) in which Slurm's clients reach the test cluster."""
    if _existing_cluster_is_up(os.environ):
        yield dict(os.environ)
        return
    with running_cluster() as env:
        previous = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = env["SLURM_CONF"]
        try:
            yield env
        finally:
            _restore("SLURM_CONF", previous)


@contextlib.contextmanager
def running_cluster():
    """Starts the cluster in a new temporary directory; yields the clients' environment."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        pytest.fail(f"Slurm is not installed (missing {', '.join(missing)}): run `{INSTALL}`.")
    root = pathlib.Path(tempfile.mkdtemp(prefix="whisper-slurm-"))
    # The munge user must reach its own files below this directory.
    root.chmod(0o755)
    processes = []
    try:
        socket_path = _start_munged(root, processes)
        conf = _write_config(root, socket_path)
        env = {**os.environ, "SLURM_CONF": str(conf)}
        processes.append(_daemon(["slurmctld", "-D", "-f", str(conf)], root / "slurmctld.out"))
        for node in NODES:
            command = ["slurmd", "-D", "-f", str(conf), "-N", node]
            processes.append(_daemon(command, root / f"slurmd-{node}.out"))
        _wait_until_idle(env, root, processes)
        yield env
    finally:
        _stop(processes, root)


def _start_munged(root, processes):
    munge = pwd.getpwnam("munge")
    directory = root / "munge"
    # munged wants its socket's directory open to every user (it checks).
    directory.mkdir()
    directory.chmod(0o755)
    key = directory / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    for path in (directory, key):
        os.chown(path, munge.pw_uid, munge.pw_gid)
    socket_path = directory / "munge.socket"
    command = [
        "munged",
        "--foreground",
        f"--key-file={key}",
        f"--socket={socket_path}",
        f"--pid-file={directory / 'munged.pid'}",
        f"--log-file={directory / 'munged.log'}",
        f"--seed-file={directory / 'munged.seed'}",
    ]
    processes.append(_daemon(command, root / "munged.out", user=munge.pw_uid, group=munge.pw_gid))
    _wait_for(lambda: socket_path.exists(), "munged did not create its socket", root, processes)
    return socket_path


def _write_config(root, socket_path):
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    controller_port, *node_ports = _free_ports(1 + len(NODES))
    (root / "state").mkdir()
    (root / "spool").mkdir()
    lines = [
        "ClusterName=whisper-test",
        f"SlurmctldHost={host}",
        f"SlurmctldPort={controller_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={socket_path},cred_expire={CREDENTIAL_LIFETIME_S}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "GresTypes=gpu",
        "JobRequeue=1",
        "KillWait=10",
        "InactiveLimit=0",
        "MinJobAge=300",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}/%n",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd-%n.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd-%n.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
    ]
    for node, port in zip(NODES, node_ports):
        (root / "spool" / node).mkdir()
        lines.append(
            f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} "
            f"CPUs={cpus} RealMemory={memory_mb // len(NODES)} Gres=gpu:{GPUS_PER_NODE} "
            "State=UNKNOWN"
        )
    lines.append(
        f"PartitionName={PARTITION} Nodes={','.join(NODES)} Default=YES MaxTime=60 State=UP"
    )
    (root / "gres.conf").write_text(
        "".join(
            f"NodeName={node} Name=gpu File=/dev/loop[0-{GPUS_PER_NODE - 1}]\n" for node in NODES
        )
    )
    conf = root / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _daemon(command, log_path, **user):
    log = open(log_path, "w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **user)


def _wait_until_idle(env, root, processes):
    def both_idle():
        completed = subprocess.run(
            ["sinfo", "--noheader", "--Node", "--format=%N %t"],
            env=env,
            capture_output=True,
            text=True,
        )
        states = dict(line.split() for line in completed.stdout.splitlines() if line.strip())
        return all(states.get(node) == "idle" for node in NODES)

    _wait_for(both_idle, "the Slurm nodes n1 and n2 did not become idle", root, processes)


def _wait_for(condition, message, root, processes):
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        exited = [process.args[0] for process in processes if process.poll() is not None]
        if exited or time.monotonic() > deadline:
            pytest.fail(f"{message} (exited: {exited or 'none'}):\n{_daemon_logs(root)}")
        time.sleep(0.5)


def _daemon_logs(root):
    logs = sorted(root.glob("*.log")) + sorted(root.glob("*.out")) + [root / "munge/munged.log"]
    return "\n".join(
        f"--- {path.name}:\n{path.read_text(errors='replace')[-2000:]}"
        for path in logs
        if path.exists()
    )


def _stop(processes, root):
    conf = root / "slurm.conf"
    if conf.exists() and processes:
        subprocess.run(
            ["scancel", "--full", "--quiet", f"--partition={PARTITION}"],
            env={**os.environ, "SLURM_CONF": str(conf)},
            capture_output=True,
            timeout=30,
        )
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(root, ignore_errors=True)


def _existing_cluster_is_up(env):
    if not env.get("SLURM_CONF") or shutil.which("sinfo") is None:
        return False
    completed = subprocess.run(
        ["sinfo", "--noheader", "--Node", "--format=%N"],
        env=env,
        capture_output=True,
        text=True,
    )
    return completed.returncode == 0 and set(NODES) <= set(completed.stdout.split())


def _restore(name, value):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


if __name__ == "__main__":
    with running_cluster() as cluster_env:
        print(f"export SLURM_CONF={cluster_env['SLURM_CONF']}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
