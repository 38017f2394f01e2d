"""Kubernetes manifests for N workers: an Indexed Job with a headless Service, a JobSet, a TFJob.

Every pod runs the job's worker command (`python -m launch.worker -- python -m
train ... run_dir=...`) in a container named `train` (`tensorflow` for a
TFJob, the name the Kubeflow operator looks for), with the run directory's
volume mounted and the cluster told through `launch.cluster_env`'s variables.

- `indexed-job` (no operator needed): a Job with `completionMode: Indexed`
  and a headless Service; each pod's `subdomain` is the Service, so pod i is
  `<job>-<i>.<job>`. A worker's real failure (a non-zero exit) fails the Job
  at once (podFailurePolicy FailJob); a pod disrupted by preemption or a node
  drain is replaced without counting (Ignore on DisruptionTarget); a worker
  that stopped on SIGTERM after its checkpoint (143) or lost a peer (4) is
  replaced and counted against `max_restarts` (backoffLimit), and resumes.
- `jobset`: one replicated Job of N pods; JobSet's own headless Service names
  pod i `<jobset>-worker-0-<i>.<jobset>`. A real failure fails the JobSet; a
  disruption fails the child Job, and the JobSet restarts every pod, at most
  `max_restarts` times.
- `tfjob`: Kubeflow's TFJob; the operator sets TF_CONFIG (one Service per
  worker, port 2222 of the container port named `tfjob-port`), which the
  worker keeps; a pod that fails is restarted in place (`OnFailure`), the job
  fails after `max_restarts` restarts.

```python
from launch.job import Job
from launch.k8s_manifests import PodSpec, render

job = Job.create(["debug=fast"], run_dir="/runs/a")
spec = PodSpec(name="whisper", namespace="default", image="whisper-keras:latest",
               num_workers=2)
manifests = render("indexed-job", job, spec)
print([manifest["kind"] for manifest in manifests])  # ['Service', 'Job']
```
"""

import dataclasses

from launch.cluster_env import CLUSTER_KIND
from launch.cluster_env import KUBERNETES_BASE_PORT
from launch.cluster_env import WORKERS
from launch.cluster_env import kubernetes_workers
from train.preemption import STOPPED_STATUS
from train.worker_loss import WORKER_LOST_STATUS

FORMS = ("indexed-job", "jobset", "tfjob")
# Exit statuses of a worker that stopped with its run resumable (sorted: the API wants it so).
RESUMABLE = sorted([STOPPED_STATUS, WORKER_LOST_STATUS])
CONTAINER = "train"
# The Kubeflow operator reads the port of this container and port name.
TFJOB_CONTAINER = "tensorflow"
TFJOB_PORT_NAME = "tfjob-port"
JOBSET_REPLICATED_JOB = "worker"
RUN_DIR_VOLUME = "run-dir"
JOB_LABEL = "whisper-keras/job"
# Long enough for train to finish the step in flight and save a checkpoint after SIGTERM.
TERMINATION_GRACE_SECONDS = 300


@dataclasses.dataclass(frozen=True)
class PodSpec:
    """Where and how the workers run.

    Attributes:
        name: the Job, JobSet or TFJob name (a DNS label).
        namespace: the namespace of every object.
        image: the container image, with this project installed.
        num_workers: number of worker pods.
        gpus_per_worker: `nvidia.com/gpu` limit of each pod (0: none).
        cpu, memory: each pod's requests and limits, e.g. "4" and "16Gi".
        node_selector: label -> value the nodes must have.
        tolerations: (key, value or None, effect) triples.
        pvc: PersistentVolumeClaim holding the run directory, or None for an
            emptyDir (lost with the pod: no resume after a restart).
        mount_path: where the run directory's volume is mounted.
        max_restarts: restarts allowed after disruptions or failures.
    """

    name: str
    namespace: str
    image: str
    num_workers: int
    gpus_per_worker: int = 0
    cpu: str = None
    memory: str = None
    node_selector: tuple = ()
    tolerations: tuple = ()
    pvc: str = None
    mount_path: str = "/runs"
    max_restarts: int = 3


def render(form, job, spec):
    """The manifests (dicts, in apply order) of `form` for `job`."""
    renderers = {"indexed-job": indexed_job, "jobset": jobset, "tfjob": tfjob}
    return renderers[form](job, spec)


def pod_host_names(form, spec):
    """Each worker pod's DNS name in rank order, as the form's Services publish it."""
    if form == "indexed-job":
        return [f"{spec.name}-{rank}.{spec.name}" for rank in range(spec.num_workers)]
    if form == "jobset":
        return [
            f"{spec.name}-{JOBSET_REPLICATED_JOB}-0-{rank}.{spec.name}"
            for rank in range(spec.num_workers)
        ]
    return [f"{spec.name}-worker-{rank}.{spec.namespace}.svc" for rank in range(spec.num_workers)]


def worker_environment(form, spec):
    """The variables `launch.worker` reads in each pod (besides Kubernetes' own)."""
    env = {CLUSTER_KIND: form}
    if form != "tfjob":
        env[WORKERS] = ",".join(kubernetes_workers(pod_host_names(form, spec)))
    return env


def worker_command(job, spec):
    """The command every pod runs; several workers need MultiWorkerMirroredStrategy."""
    extra = ("strategy=multi_worker",) if spec.num_workers > 1 else ()
    return job.worker_command(*extra, python="python")


def indexed_job(job, spec):
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec),
        "spec": {
            "clusterIP": "None",
            "selector": {JOB_LABEL: spec.name},
            # Workers must find each other while they start, before any is Ready.
            "publishNotReadyAddresses": True,
            "ports": [
                {"name": f"worker-{rank}", "port": port, "targetPort": port}
                for rank, port in enumerate(_worker_ports(spec))
            ],
        },
    }
    pod = _pod_template(job, spec, "indexed-job", CONTAINER, _worker_ports(spec))
    pod["spec"]["subdomain"] = spec.name
    job_manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(spec),
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.num_workers,
            "parallelism": spec.num_workers,
            "backoffLimit": spec.max_restarts,
            "podFailurePolicy": _pod_failure_policy(CONTAINER, disruption_action="Ignore"),
            "template": pod,
        },
    }
    return [service, job_manifest]


def jobset(job, spec):
    pod = _pod_template(job, spec, "jobset", CONTAINER, _worker_ports(spec))
    child_job = {
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.num_workers,
            "parallelism": spec.num_workers,
            # Any counted pod failure fails the child Job; the JobSet decides what follows.
            "backoffLimit": 0,
            "podFailurePolicy": _pod_failure_policy(CONTAINER, disruption_action="Count"),
            "template": pod,
        }
    }
    return [
        {
            "apiVersion": "jobset.x-k8s.io/v1alpha2",
            "kind": "JobSet",
            "metadata": _metadata(spec),
            "spec": {
                "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
                "failurePolicy": {
                    "maxRestarts": spec.max_restarts,
                    "rules": [
                        {
                            "name": "failOnWorkerError",
                            "action": "FailJobSet",
                            "onJobFailureReasons": ["PodFailurePolicy"],
                        }
                    ],
                },
                "replicatedJobs": [
                    {"name": JOBSET_REPLICATED_JOB, "replicas": 1, "template": child_job}
                ],
            },
        }
    ]


def tfjob(job, spec):
    pod = _pod_template(job, spec, "tfjob", TFJOB_CONTAINER, [KUBERNETES_BASE_PORT])
    pod["spec"]["containers"][0]["ports"][0]["name"] = TFJOB_PORT_NAME
    # The operator sets each pod's restart policy from the replica's.
    del pod["spec"]["restartPolicy"]
    return [
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "TFJob",
            "metadata": _metadata(spec),
            "spec": {
                "runPolicy": {"backoffLimit": spec.max_restarts, "cleanPodPolicy": "Running"},
                "tfReplicaSpecs": {
                    "Worker": {
                        "replicas": spec.num_workers,
                        "restartPolicy": "OnFailure",
                        "template": pod,
                    }
                },
            },
        }
    ]


def _metadata(spec):
    return {"name": spec.name, "namespace": spec.namespace, "labels": {JOB_LABEL: spec.name}}


def _worker_ports(spec):
    return [KUBERNETES_BASE_PORT + rank for rank in range(spec.num_workers)]


def _pod_failure_policy(container, disruption_action):
    return {
        "rules": [
            {
                "action": disruption_action,
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
            {
                # Stopped by SIGTERM after a checkpoint, or a peer was lost:
                # a new pod resumes; these count towards backoffLimit.
                "action": "Count",
                "onExitCodes": {"containerName": container, "operator": "In", "values": RESUMABLE},
            },
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": container, "operator": "NotIn", "values": [0]},
            },
        ]
    }


def _pod_template(job, spec, form, container_name, ports):
    container = {
        "name": container_name,
        "image": spec.image,
        "command": worker_command(job, spec),
        "env": [
            {"name": name, "value": value} for name, value in worker_environment(form, spec).items()
        ],
        "ports": [
            {"name": f"worker-{rank}", "containerPort": port} for rank, port in enumerate(ports)
        ],
        "volumeMounts": [{"name": RUN_DIR_VOLUME, "mountPath": spec.mount_path}],
    }
    resources = _resources(spec)
    if resources:
        container["resources"] = {"requests": resources, "limits": dict(resources)}
    pod_spec = {
        # A Job's podFailurePolicy needs Never: a failed pod is replaced, not restarted.
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "containers": [container],
        "volumes": [_run_dir_volume(spec)],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [_toleration(*toleration) for toleration in spec.tolerations]
    return {"metadata": {"labels": {JOB_LABEL: spec.name}}, "spec": pod_spec}


def _resources(spec):
    resources = {}
    if spec.cpu:
        resources["cpu"] = spec.cpu
    if spec.memory:
        resources["memory"] = spec.memory
    if spec.gpus_per_worker:
        resources["nvidia.com/gpu"] = str(spec.gpus_per_worker)
    return resources


def _run_dir_volume(spec):
    if spec.pvc:
        return {"name": RUN_DIR_VOLUME, "persistentVolumeClaim": {"claimName": spec.pvc}}
    return {"name": RUN_DIR_VOLUME, "emptyDir": {}}


def _toleration(key, value, effect):
    if value is None:
        return {"key": key, "operator": "Exists", "effect": effect}
    return {"key": key, "operator": "Equal", "value": value, "effect": effect}
