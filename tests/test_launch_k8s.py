"""`python -m launch k8s`: manifests valid against the real API schemas, and pods that train.

No cluster runs here, so the pods' commands and environments run as local
processes, each in its own mount namespace whose /etc/hosts maps the pods'
DNS names to 127.0.0.1, with JOB_COMPLETION_INDEX (or a TFJob's TF_CONFIG)
set as Kubernetes (or the Kubeflow operator) would set it.
"""

import copy
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from launch_cli import run_launch

from tests.k8s_schemas import SchemaError
from tests.k8s_schemas import validate
from tests.train_cli import ROOT
from tests.train_cli import assert_trained
from tests.train_cli import train_environment

FULL_OPTIONS = [
    "--num-workers", "2", "--image", "registry.example/whisper-keras:1", "--namespace", "ml",
    "--gpus-per-worker", "1", "--cpu", "4", "--memory", "16Gi",
    "--node-selector", "cloud.google.com/gke-accelerator=nvidia-l4",
    "--toleration", "nvidia.com/gpu:NoSchedule", "--toleration", "spot=true:NoExecute",
    "--pvc", "whisper-runs", "--max-restarts", "5",
]  # fmt: skip


def launch_k8s(*arguments, cwd, path=None):
    variables = {"PATH": path} if path is not None else {}
    return run_launch("k8s", *arguments, cwd=cwd, timeout=120, **variables)


def rendered(tmp_path, form, *options, train=("debug=fast",), job_name="wk"):
    """Launches `form` without --apply; returns (manifests, the YAML file's path)."""
    completed = launch_k8s(
        "--form", form, "--job-name", job_name, *options, "--", *train, cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    path = tmp_path / "outputs" / "launch" / "k8s" / job_name / "launch" / f"{form}.yaml"
    return list(yaml.safe_load_all(path.read_text())), path


def pod_container(manifest):
    if manifest["kind"] == "Job":
        return manifest["spec"]["template"]["spec"]["containers"][0]
    if manifest["kind"] == "JobSet":
        job = manifest["spec"]["replicatedJobs"][0]["template"]
        return job["spec"]["template"]["spec"]["containers"][0]
    return manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("form", ["indexed-job", "jobset", "tfjob"])
def test_every_form_is_valid_against_the_published_schemas(tmp_path, form):
    manifests, path = rendered(tmp_path, form, *FULL_OPTIONS, "--run-dir", "/runs/exp1")
    for manifest in manifests:
        validate(manifest)
    container = pod_container(manifests[-1])
    assert container["command"] == [
        "python", "-m", "launch.worker", "--", "python", "-m", "train", "debug=fast",
        "strategy=multi_worker", "run_dir=/runs/exp1",
    ]  # fmt: skip
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert container["volumeMounts"] == [{"name": "run-dir", "mountPath": "/runs"}]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["WHISPER_CLUSTER"] == form
    record = json.loads((path.parent.parent / "launch.json").read_text())
    assert record["engine"] == "k8s" and record["run_dir"] == "/runs/exp1"
    assert record["artifact"]["files"] == {str(path): path.read_text()}


def test_indexed_job_pods_are_named_by_the_headless_service(tmp_path):
    (service, job), _ = rendered(tmp_path, "indexed-job", *FULL_OPTIONS)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == job["spec"]["template"]["metadata"]["labels"]
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] == "wk"
    env = {item["name"]: item["value"] for item in pod["containers"][0]["env"]}
    assert env["WHISPER_WORKERS"] == "wk-0.wk:2222,wk-1.wk:2223"
    assert [port["containerPort"] for port in pod["containers"][0]["ports"]] == [2222, 2223]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert [rule["action"] for rule in rules] == ["Ignore", "Count", "FailJob"]
    # Stopped after a SIGTERM checkpoint (143) or after losing a peer (4): resumable.
    assert rules[1]["onExitCodes"]["values"] == [4, 143]
    assert pod["volumes"] == [
        {"name": "run-dir", "persistentVolumeClaim": {"claimName": "whisper-runs"}}
    ]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert pod["tolerations"][1] == {
        "key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute"
    }  # fmt: skip


def broken_manifests():
    """(name, manifest with one deliberate error) for each kind rendered."""
    from launch.job import Job
    from launch.k8s_manifests import PodSpec
    from launch.k8s_manifests import render

    job = Job.create(["debug=fast"], run_dir="/runs/a")
    spec = PodSpec(name="wk", namespace="default", image="i", num_workers=2, pvc="runs")
    service, indexed = render("indexed-job", job, spec)
    (jobset,) = render("jobset", job, spec)
    (tfjob,) = render("tfjob", job, spec)

    pod = ["spec", "template", "spec"]
    jobset_pod = ["spec", "replicatedJobs", 0, "template", *pod]
    tfjob_worker = ["spec", "tfReplicaSpecs", "Worker"]
    tfjob_port = [*tfjob_worker, "template", "spec", "containers", 0, "ports", 0]
    # (name, manifest, path to an object, key, new value or None to remove the key)
    cases = [
        ("Job: wrong type", indexed, ["spec"], "completions", "2"),
        ("Job: unknown field", indexed, pod, "subdomian", "wk"),
        ("Service: missing required port", service, ["spec", "ports", 0], "port", None),
        ("JobSet: wrong type", jobset, ["spec", "failurePolicy"], "maxRestarts", "3"),
        ("JobSet: unknown field", jobset, ["spec"], "maxRestarts", 3),
        ("JobSet: missing required name", jobset, ["spec", "replicatedJobs", 0], "name", None),
        ("JobSet: unknown pod field", jobset, [*jobset_pod, "containers", 0], "commnd", ["x"]),
        ("TFJob: wrong type", tfjob, tfjob_worker, "replicas", "2"),
        ("TFJob: unknown field", tfjob, ["spec"], "runpolicy", {}),
        ("TFJob: missing required runPolicy", tfjob, ["spec"], "runPolicy", None),
        ("TFJob: pod port as text", tfjob, tfjob_port, "containerPort", "2222"),
    ]  # fmt: skip
    broken = {}
    for name, manifest, path, key, value in cases:
        broken[name] = copy.deepcopy(manifest)
        target = _at(broken[name], path)
        if value is None:
            del target[key]
        else:
            target[key] = value
    return broken


def _at(value, path):
    for key in path:
        value = value[key]
    return value


@pytest.mark.parametrize("name", list(broken_manifests()))
def test_the_validation_rejects_a_broken_manifest(name):
    with pytest.raises(SchemaError):
        validate(broken_manifests()[name])


def test_dry_run_prints_the_manifests_and_writes_nothing(tmp_path):
    completed = launch_k8s(
        "--dry-run", "--image", "i", "--num-workers", "2", "--", "debug=fast", cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    assert "kind: Service" in completed.stdout and "kind: Job" in completed.stdout
    assert "nothing was written or run" in completed.stdout
    assert list(tmp_path.iterdir()) == []


def test_default_run_dir_is_a_dated_directory_under_the_mount_path(tmp_path):
    (_, job), _ = rendered(tmp_path, "indexed-job", "--image", "i", "--mount-path", "/data/runs")
    run_dir = pod_container(job)["command"][-1]
    assert run_dir.startswith("run_dir=/data/runs/20")


def test_a_run_dir_outside_the_mount_path_is_one_line(tmp_path):
    completed = launch_k8s(
        "--image", "i", "--run-dir", "/elsewhere/a", "--", "debug=fast", cwd=tmp_path
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith(
        "Error: run directory /elsewhere/a is not under --mount-path /runs"
    )
    assert len(completed.stderr.strip().splitlines()) == 1


def test_apply_needs_kubectl_on_path(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    completed = launch_k8s("--image", "i", "--apply", cwd=tmp_path, path=str(empty))
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        "Error: --apply needs kubectl on PATH; without --apply the manifests are only written."
    )


def test_apply_runs_kubectl_apply_on_the_manifests(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$@" > {log}\necho "job.batch/wk created"\n')
    kubectl.chmod(0o755)
    completed = launch_k8s(
        "--image", "i", "--job-name", "wk", "--apply", cwd=tmp_path,
        path=f"{bin_dir}:{os.environ['PATH']}",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    manifest = tmp_path / "outputs" / "launch" / "k8s" / "wk" / "launch" / "indexed-job.yaml"
    assert log.read_text().split() == ["apply", "-f", str(manifest)]
    assert "job.batch/wk created" in completed.stdout


def start_pod(container, index, hosts, tmp_path, bin_dir, **variables):
    """Runs a pod's command and environment here, its host names mapped to loopback."""
    pod_env = {item["name"]: item["value"] for item in container["env"]}
    env = train_environment(
        **pod_env, **variables, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONPATH=str(ROOT)
    )
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text(pathlib.Path("/etc/hosts").read_text() + f"127.0.0.1 {' '.join(hosts)}\n")
    mount_hosts = 'mount --bind "$0" /etc/hosts && exec "$@"'
    with open(tmp_path / f"pod-{index}.log", "w") as log:
        return subprocess.Popen(
            ["unshare", "--mount", "sh", "-c", mount_hosts, str(hosts_file), *container["command"]],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def python_on_path(tmp_path, train_stub=False):
    """A bin dir whose `python` is this interpreter; with `train_stub`, `python -m
    train` only records its arguments and TF_CONFIG (launch.worker stays real)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    python = bin_dir / "python"
    if not train_stub:
        # A script, not a symlink: a virtual environment's interpreter run
        # through a link elsewhere would lose its environment.
        python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        python.chmod(0o755)
        return bin_dir
    python.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "if sys.argv[1:3] == ['-m', 'train']:\n"
        "    index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
        f"    with open(os.path.join({str(tmp_path)!r}, f'train-{{index}}.json'), 'w') as f:\n"
        "        json.dump({'args': sys.argv[1:], 'TF_CONFIG': os.environ['TF_CONFIG']}, f)\n"
        "    sys.exit(0)\n"
        f"os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])\n"
    )
    python.chmod(0o755)
    return bin_dir


def wait_all(processes, tmp_path, timeout=600):
    outputs = []
    for index, process in enumerate(processes):
        process.wait(timeout=timeout)
        outputs.append((tmp_path / f"pod-{index}.log").read_text())
    return outputs


@pytest.mark.slow
def test_indexed_job_pods_run_here_train_and_export_a_preset(tmp_path):
    runs = tmp_path / "runs"
    (_, job), _ = rendered(
        tmp_path, "indexed-job", "--image", "i", "--num-workers", "2", "--mount-path", str(runs),
        train=("debug=fast", "tracker=console"),
    )  # fmt: skip
    container = pod_container(job)
    run_dir = container["command"][-1].partition("=")[2]
    bin_dir = python_on_path(tmp_path)
    hosts = ["wk-0.wk", "wk-1.wk"]
    pods = [
        start_pod(container, rank, hosts, tmp_path, bin_dir, JOB_COMPLETION_INDEX=str(rank))
        for rank in range(2)
    ]
    chief, other = wait_all(pods, tmp_path)
    assert "launch.worker: rank 0 of 2 (indexed-job), listening on wk-0.wk:2222" in chief
    assert "launch.worker: rank 1 of 2 (indexed-job), listening on wk-1.wk:2223" in other
    assert pods[1].returncode == 0, other[-3000:]
    assert_trained(
        subprocess.CompletedProcess(container["command"], pods[0].returncode, chief, chief), run_dir
    )


def test_jobset_pods_get_the_cluster_of_jobset_host_names(tmp_path):
    (jobset,), _ = rendered(tmp_path, "jobset", "--image", "i", "--num-workers", "2")
    container = pod_container(jobset)
    hosts = ["wk-worker-0-0.wk", "wk-worker-0-1.wk"]
    bin_dir = python_on_path(tmp_path, train_stub=True)
    pods = [
        start_pod(container, rank, hosts, tmp_path, bin_dir, JOB_COMPLETION_INDEX=str(rank))
        for rank in range(2)
    ]
    outputs = wait_all(pods, tmp_path, timeout=60)
    for rank, output in enumerate(outputs):
        assert pods[rank].returncode == 0, output
        assert f"rank {rank} of 2 (jobset), listening on {hosts[rank]}:{2222 + rank}" in output
        train = json.loads((tmp_path / f"train-{rank}.json").read_text())
        assert json.loads(train["TF_CONFIG"]) == {
            "cluster": {"worker": ["wk-worker-0-0.wk:2222", "wk-worker-0-1.wk:2223"]},
            "task": {"type": "worker", "index": rank},
        }
        assert train["args"] == container["command"][5:]


def test_tfjob_pods_keep_the_operators_tf_config(tmp_path):
    (tfjob,), _ = rendered(tmp_path, "tfjob", "--image", "i", "--num-workers", "2")
    container = pod_container(tfjob)
    assert container["name"] == "tensorflow"
    assert container["ports"] == [{"name": "tfjob-port", "containerPort": 2222}]
    bin_dir = python_on_path(tmp_path, train_stub=True)
    workers = ["wk-worker-0.default.svc:2222", "wk-worker-1.default.svc:2222"]
    # What the Kubeflow Training operator writes into each worker pod.
    operator_tf_configs = [
        json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank},
                    "environment": "cloud"})
        for rank in range(2)
    ]  # fmt: skip
    pods = [
        start_pod(container, rank, [], tmp_path, bin_dir, TF_CONFIG=operator_tf_configs[rank])
        for rank in range(2)
    ]
    outputs = wait_all(pods, tmp_path, timeout=60)
    for rank, output in enumerate(outputs):
        assert pods[rank].returncode == 0, output
        train = json.loads((tmp_path / f"train-{rank}.json").read_text())
        assert train["TF_CONFIG"] == operator_tf_configs[rank]
