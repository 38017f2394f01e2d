"""Job submission: one command from a laptop to Slurm, Kubernetes and Cloud TPU.

`python -m launch ENGINE [options] -- <python -m train overrides>` renders what
the engine runs (processes, an sbatch script, manifests, gcloud commands),
fixes the job's run directory at submit time, records both in
`<run_dir>/launch.json` and submits. Every rank runs
`python -m launch.worker -- python -m train ... run_dir=<run_dir>`, which
turns its engine's environment into TF_CONFIG before TensorFlow starts.
This package imports neither TensorFlow nor Keras.
"""
