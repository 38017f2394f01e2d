"""Kubernetes: an Indexed Job with a headless Service, a JobSet or a Kubeflow TFJob.

`python -m launch k8s --num-workers 2 --image IMAGE --pvc runs -- debug=fast`
renders the manifests (`launch.k8s_manifests`) into one YAML file and, with
`--apply`, runs `kubectl apply -f` on it. The run directory lives on the
volume mounted at `--mount-path` (a PersistentVolumeClaim with `--pvc`), so a
restarted pod resumes from it; by default it is a new dated directory there.
As that directory is in the cluster, the YAML file and launch.json are kept
on this machine under `outputs/launch/k8s/<job name>/`.

```python
from launch.__main__ import main

main(["k8s", "--dry-run", "--num-workers", "2", "--image", "whisper-keras:latest",
      "--pvc", "runs", "--", "debug=fast"])  # prints the Service and the Job
```
"""

import os
import re
import shutil
import subprocess

import yaml

from launch.job import DEFAULT_RUNS_ROOT
from launch.job import LaunchError
from launch.job import new_run_dir
from launch.k8s_manifests import FORMS
from launch.k8s_manifests import PodSpec
from launch.k8s_manifests import render
from launch.launch_record import Submission

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# Pod host names add "-worker-0-<rank>" (JobSet) to the name; a DNS label is 63 characters.
MAX_NAME_LENGTH = 40
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def add_arguments(parser):
    parser.add_argument("--form", choices=FORMS, default="indexed-job", help="default indexed-job")
    parser.add_argument("--num-workers", type=int, default=1, help="worker pods (default 1)")
    parser.add_argument("--image", required=True, help="container image with this project")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--job-name", help="default: whisper-<run directory name>")
    parser.add_argument("--gpus-per-worker", type=int, default=0, help="nvidia.com/gpu per pod")
    parser.add_argument("--cpu", help="CPU request and limit per pod, e.g. 8")
    parser.add_argument("--memory", help="memory request and limit per pod, e.g. 32Gi")
    parser.add_argument(
        "--node-selector", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    parser.add_argument(
        "--toleration",
        action="append",
        default=[],
        metavar="KEY[=VALUE]:EFFECT",
        help="repeatable; EFFECT is NoSchedule, PreferNoSchedule or NoExecute",
    )
    parser.add_argument("--pvc", help="PersistentVolumeClaim for the run directory")
    parser.add_argument(
        "--mount-path", default="/runs", help="where the run directory's volume is mounted"
    )
    parser.add_argument(
        "--max-restarts", type=int, default=3, help="restarts after disruptions (default 3)"
    )
    parser.add_argument("--apply", action="store_true", help="kubectl apply the manifests")


def launch(job, options):
    mount_path = _mount_path(options.mount_path)
    job = _job_under_mount_path(job, mount_path)
    spec = _pod_spec(job, options, mount_path)
    if options.apply and not job.dry_run and shutil.which("kubectl") is None:
        raise LaunchError(
            "--apply needs kubectl on PATH; without --apply the manifests are only written."
        )
    record_dir = os.path.abspath(os.path.join(DEFAULT_RUNS_ROOT, "k8s", spec.name))
    submission = Submission(job, "k8s", record_dir=record_dir)
    manifest_path = submission.add_file(
        f"{options.form}.yaml", yaml.safe_dump_all(render(options.form, job, spec), sort_keys=False)
    )
    apply_command = ["kubectl", "apply", "-f", manifest_path]
    if options.apply:
        submission.add_command(apply_command)
    submission.commit()
    if job.dry_run:
        return 0
    print(f"Manifests: {manifest_path} (run directory in the pods: {job.run_dir})")
    if not options.apply:
        print(f"Submit with: {' '.join(apply_command)}")
        return 0
    return subprocess.run(apply_command).returncode


def _mount_path(mount_path):
    if not mount_path.startswith("/"):
        raise LaunchError(f"--mount-path {mount_path!r} must be an absolute path in the pods.")
    return os.path.normpath(mount_path)


def _job_under_mount_path(job, mount_path):
    """The job with its run directory on the pods' volume (see the module docstring)."""
    if not job.run_dir_given:
        return job.with_overrides(job.overrides, new_run_dir(root=mount_path))
    if os.path.commonpath([job.run_dir, mount_path]) != mount_path:
        raise LaunchError(
            f"run directory {job.run_dir} is not under --mount-path {mount_path}: "
            "the pods would not keep it."
        )
    return job


def _pod_spec(job, options, mount_path):
    if options.num_workers < 1:
        raise LaunchError(f"--num-workers {options.num_workers}: at least 1.")
    if options.gpus_per_worker < 0 or options.max_restarts < 0:
        raise LaunchError("--gpus-per-worker and --max-restarts must not be negative.")
    name = options.job_name or "whisper-" + re.sub(
        r"[^a-z0-9]+", "-", os.path.basename(job.run_dir).lower()
    ).strip("-")
    if not DNS_LABEL.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise LaunchError(
            f"--job-name {name!r} must be lower-case letters, digits and '-', start with a "
            f"letter, end alphanumeric, at most {MAX_NAME_LENGTH} characters."
        )
    return PodSpec(
        name=name,
        namespace=options.namespace,
        image=options.image,
        num_workers=options.num_workers,
        gpus_per_worker=options.gpus_per_worker,
        cpu=options.cpu,
        memory=options.memory,
        node_selector=tuple(_node_selector(item) for item in options.node_selector),
        tolerations=tuple(_toleration(item) for item in options.toleration),
        pvc=options.pvc,
        mount_path=mount_path,
        max_restarts=options.max_restarts,
    )


def _node_selector(item):
    key, equals, value = item.partition("=")
    if not equals or not key:
        raise LaunchError(f"--node-selector {item!r} must be KEY=VALUE.")
    return key, value


def _toleration(item):
    taint, colon, effect = item.rpartition(":")
    key, equals, value = taint.partition("=")
    if not colon or not key or effect not in TAINT_EFFECTS:
        raise LaunchError(
            f"--toleration {item!r} must be KEY[=VALUE]:EFFECT with EFFECT one of "
            f"{', '.join(TAINT_EFFECTS)}."
        )
    return key, value if equals else None, effect
