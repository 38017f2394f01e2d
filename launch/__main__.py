"""`python -m launch ENGINE [options] -- <python -m train overrides>`.

Engines: `local` (processes on this machine), `slurm` (sbatch), `k8s`
(an Indexed Job, a JobSet or a TFJob) and `tpu-vm` (gcloud). Every engine
takes `--run-dir` (default: a new dated directory under outputs/launch/) and
`--dry-run`; `python -m launch ENGINE --help` lists the rest.
"""

import argparse
import importlib
import sys

from launch.job import DEFAULT_RUNS_ROOT
from launch.job import Job
from launch.job import LaunchError
from launch.sweep import SweepError

ENGINES = {
    "local": "launch.local",
    "slurm": "launch.slurm",
    "k8s": "launch.k8s",
    "tpu-vm": "launch.tpu_vm",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m launch",
        description="Submit `python -m train` to an engine. Train overrides go after `--`.",
    )
    engines = parser.add_subparsers(dest="engine", required=True, metavar="ENGINE")
    for name, module_name in ENGINES.items():
        module = importlib.import_module(module_name)
        engine = engines.add_parser(name, help=module.__doc__.splitlines()[0])
        engine.add_argument(
            "--run-dir",
            help=f"the job's run directory, shared by every rank and restart "
            f"(default: a new dated directory under {DEFAULT_RUNS_ROOT}/)",
        )
        engine.add_argument(
            "--dry-run", action="store_true", help="print what would be run or written; do nothing"
        )
        module.add_arguments(engine)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    options_part, train_part = _split_at_separator(argv)
    options = build_parser().parse_args(options_part)
    engine = importlib.import_module(ENGINES[options.engine])
    try:
        job = Job.create(train_part, run_dir=options.run_dir, dry_run=options.dry_run, argv=argv)
        return engine.launch(job, options)
    except (LaunchError, SweepError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2


def _split_at_separator(argv):
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


if __name__ == "__main__":
    sys.exit(main())
