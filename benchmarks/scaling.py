"""Data-parallel scaling of the training step: measured on 1 and 2 workers, estimated for 8 H100s
and a TPU v4-32.

    python -m benchmarks.scaling [--workers 1 2] [--batch-size 2] [--steps 5] [--rounds 1]

Measured: examples/s of `train.trainer.Trainer`'s step under
MultiWorkerMirroredStrategy with 1 worker and with 2, each worker a process
of its own on this host (a cluster on 127.0.0.1, TF_CONFIG set before
TensorFlow loads), training the whisper_tiny_en architecture (random
weights, 30 s features, 32 target tokens, float32, XLA, AdamW, clipping).
Weak scaling, as users scale: every worker trains on `--batch-size`
examples, so the global batch grows with the workers. Every worker computes
on the same number of threads, this host's cores over the most workers,
so that each worker stands for one device of its own and the 2-worker run
is set against the 1-worker run of the same invocation, on equal compute
per worker. The 2-worker step's extra time over 1 worker bounds from above
what all-reducing costs here (communication plus contention for the host).

Counted: the bytes all-reduced per step, the float32 gradient of every
trainable variable plus the Trainer's three float32 scalars (its target
tokens and examples, then the loss, packed with the gradients), checked
against the collective operations of each worker's compiled step (a
single worker compiles none: it has nothing to all-reduce with).

Estimated: for tiny, base and small, the all-reduce time of one step on
8 H100 SXM over NVLink and on a TPU v4-32, set against the compute time of
one step at 40 % of peak (`benchmarks.whisper_flops`, 128 target tokens) at
16 examples per device: whether the all-reduce could hide behind compute,
and its share of the step today, since the Trainer all-reduces only after
the backward pass.
"""

import argparse
import concurrent.futures
import json
import math
import os
import socket

from benchmarks import report
from benchmarks.peer_process import measure_in_process
from benchmarks.train_step import build_trainer
from benchmarks.train_step import json_object
from benchmarks.train_step import synthetic_batches
from benchmarks.train_step import time_steps
from benchmarks.whisper_flops import training_flop_per_example
from whisper.utils.quiet_import import import_tensorflow_quietly

# Float32 gradients, whatever the compute precision: the Trainer sums them so.
GRADIENT_BYTES_PER_PARAMETER = 4
# Scalars the Trainer all-reduces each step: target tokens and examples
# (one all-reduce), the loss (packed with the gradients).
SCALARS_ALL_REDUCED = 3
SCALAR_BYTES = 4
# How long a cluster may take; a worker whose peer died waits on it until then.
CLUSTER_TIMEOUT_SECONDS = 3600

ESTIMATE_PRESETS = ("whisper_tiny_en", "whisper_base_en", "whisper_small_en")
ESTIMATE_TARGET_TOKENS = 128
ESTIMATE_BATCH_PER_DEVICE = 16
ESTIMATE_SHARE_OF_PEAK = 0.4
# Each cluster's device count, dense bf16 peak and the bandwidth one device
# sends its all-reduce traffic with; `source` says where the figures come from.
CLUSTERS = {
    "8 x H100 SXM, NVLink": {
        "devices": 8,
        "peak_flop_per_second": 989e12,
        "send_bytes_per_second": 450e9,
        "source": (
            "NVIDIA H100 Tensor Core GPU datasheet: 989 dense bf16 TFLOP/s (SXM); "
            "NVLink 4, 900 GB/s per GPU in both directions together, so 450 GB/s "
            "each way, every GPU reaching every other through NVSwitch"
        ),
    },
    "TPU v4-32 (16 chips)": {
        "devices": 16,
        "peak_flop_per_second": 275e12,
        "send_bytes_per_second": 100e9,
        "source": (
            "cloud.google.com/tpu/docs/v4: 275 bf16 TFLOP/s per chip, 2 TensorCores "
            "per chip (v4-32 = 32 TensorCores = 16 chips); Jouppi et al., ISCA 2023: "
            "6 ICI links per chip at 50 GB/s each way; a bidirectional ring sends "
            "over 2 of them, 100 GB/s (XLA's multi-dimensional all-reduce can use more)"
        ),
    },
}


def main():
    args = parse_arguments()
    threads = max(1, (os.cpu_count() or 1) // max(args.workers))
    settings = {
        "preset": "whisper_tiny_en",
        "architecture": args.architecture,
        "batch_size": args.batch_size,
        "target_tokens": args.target_tokens,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "precision": "float32",
        "rematerialize": "none",
        "threads": threads,
    }
    measured = measure_scaling(settings, sorted(set(args.workers)), args.rounds)
    parameters = measure_in_process(
        "benchmarks.scaling:count_trainable_parameters", {"presets": args.estimate_presets}
    )
    results = {
        "logical_cores": os.cpu_count(),
        "threads_per_worker": threads,
        "batch_per_worker": args.batch_size,
        "workers": measured,
        "communication": communication(measured),
        "estimate": estimate(parameters),
    }
    print_results(results)
    report.write_results(args.output, "benchmarks.scaling", settings, results)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=2, help="examples per worker")
    parser.add_argument("--target-tokens", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per worker")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="clusters per worker count")
    parser.add_argument(
        "--architecture",
        type=json_object,
        default={},
        help="JSON overriding whisper_tiny_en's architecture, e.g. '{\"num_layers\": 1}'",
    )
    parser.add_argument("--estimate-presets", nargs="+", default=list(ESTIMATE_PRESETS))
    report.add_output_argument(parser, "scaling")
    args = parser.parse_args()
    if 1 not in args.workers:
        parser.error("--workers must include 1: every other count is set against it")
    return args


# Measured on this host ----------------------------------------------------------


def measure_scaling(settings, worker_counts, rounds):
    """{workers: summary} for each count, the counts alternating for `rounds`."""
    runs = {count: [] for count in worker_counts}
    for _ in range(rounds):
        for count in worker_counts:
            runs[count].append(run_cluster(settings, count))
    summaries = {count: summarize(clusters) for count, clusters in runs.items()}
    one_worker = summaries[1]["examples_per_second"]
    for count, summary in summaries.items():
        summary["speedup_over_one_worker"] = summary["examples_per_second"] / one_worker
        summary["scaling_efficiency"] = summary["speedup_over_one_worker"] / count
    return {str(count): summary for count, summary in summaries.items()}


def run_cluster(settings, workers):
    """Every worker's measurement of one cluster of `workers` processes."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    tasks = [
        {**settings, "tf_config": {"cluster": cluster, "task": {"type": "worker", "index": i}}}
        for i in range(workers)
    ]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(
            pool.map(
                lambda task: measure_in_process(
                    "benchmarks.scaling:measure_worker", task, timeout=CLUSTER_TIMEOUT_SECONDS
                ),
                tasks,
            )
        )


def free_ports(count):
    """`count` distinct ports nothing listens on now."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def summarize(clusters):
    """One worker count's step: the slowest worker sets the pace of its cluster."""
    seconds = sorted(max(w["seconds_per_step"] for w in workers) for workers in clusters)
    median_seconds = seconds[len(seconds) // 2]
    first = clusters[0]
    global_batch = sum(w["batch_size"] for w in first)
    parameters = first[0]["trainable_parameters"]
    # One replica: the strategy all-reduces nothing (no collective is compiled).
    all_reduced = bytes_all_reduced_per_step(parameters) if len(first) > 1 else 0
    return {
        "global_batch": global_batch,
        "seconds_per_step": median_seconds,
        "examples_per_second": global_batch / median_seconds,
        "seconds_per_step_each_cluster": seconds,
        "trainable_parameters": parameters,
        "bytes_all_reduced_per_step": all_reduced,
        "collective_bytes_in_compiled_step": [w["collective_bytes"] for w in first],
        "peak_memory_bytes_per_worker": max(w["peak_memory_bytes"] for w in first),
    }


def bytes_all_reduced_per_step(trainable_parameters):
    """What one Trainer step all-reduces, every worker's share summed alike."""
    return GRADIENT_BYTES_PER_PARAMETER * trainable_parameters + SCALARS_ALL_REDUCED * SCALAR_BYTES


def communication(measured):
    """The 2-worker step's extra time: at most the all-reduce plus contention."""
    if "2" not in measured:
        return {}
    extra = measured["2"]["seconds_per_step"] - measured["1"]["seconds_per_step"]
    bytes_per_step = measured["2"]["bytes_all_reduced_per_step"]
    return {
        "bytes_all_reduced_per_step": bytes_per_step,
        "extra_seconds_per_step_with_2_workers": extra,
        # A lower bound: the extra time holds more than the transfer.
        "implied_bytes_per_second": bytes_per_step / extra if extra > 0 else None,
    }


# Estimated for accelerator clusters ----------------------------------------------


def estimate(trainable_parameters):
    """Per preset and cluster: one step's ring all-reduce against its compute."""
    from whisper.whisper_presets import backbone_presets

    estimates = {}
    for preset, parameters in trainable_parameters.items():
        config = backbone_presets[preset]["config"]
        flop_per_example = training_flop_per_example(config, ESTIMATE_TARGET_TOKENS)
        gradient_bytes = bytes_all_reduced_per_step(parameters)
        estimates[preset] = {
            "trainable_parameters": parameters,
            "bytes_all_reduced_per_step": gradient_bytes,
            "flop_per_example": flop_per_example,
            "clusters": {
                name: cluster_estimate(cluster, flop_per_example, gradient_bytes)
                for name, cluster in CLUSTERS.items()
            },
        }
    return {
        "target_tokens": ESTIMATE_TARGET_TOKENS,
        "batch_per_device": ESTIMATE_BATCH_PER_DEVICE,
        "share_of_peak": ESTIMATE_SHARE_OF_PEAK,
        "clusters": CLUSTERS,
        "presets": estimates,
    }


def cluster_estimate(cluster, flop_per_example, gradient_bytes):
    """A ring all-reduce sends 2(n-1)/n of the bytes out of every device."""
    devices = cluster["devices"]
    sent_bytes = 2 * (devices - 1) / devices * gradient_bytes
    all_reduce_seconds = sent_bytes / cluster["send_bytes_per_second"]
    flop_per_second = ESTIMATE_SHARE_OF_PEAK * cluster["peak_flop_per_second"]
    compute_per_example = flop_per_example / flop_per_second
    compute_seconds = ESTIMATE_BATCH_PER_DEVICE * compute_per_example
    return {
        "bytes_sent_per_device": sent_bytes,
        "all_reduce_seconds": all_reduce_seconds,
        "compute_seconds": compute_seconds,
        "all_reduce_over_compute": all_reduce_seconds / compute_seconds,
        # The Trainer all-reduces after the backward pass, so today the
        # all-reduce adds to the step; overlapped, it would hide when smaller.
        "share_of_step_without_overlap": all_reduce_seconds
        / (all_reduce_seconds + compute_seconds),
        "smallest_batch_per_device_that_hides_it": math.ceil(
            all_reduce_seconds / compute_per_example
        ),
    }


# Table ----------------------------------------------------------------------------


def print_results(results):
    measured = results["workers"]
    cores, threads = results["logical_cores"], results["threads_per_worker"]
    rows = [
        (
            workers,
            results["batch_per_worker"],
            summary["global_batch"],
            summary["seconds_per_step"],
            summary["examples_per_second"],
            f"{summary['speedup_over_one_worker']:.2f}x",
            f"{summary['scaling_efficiency']:.0%}",
            summary["bytes_all_reduced_per_step"] / 2**20,
        )
        for workers, summary in measured.items()
    ]
    report.print_table(
        f"Scaling, MultiWorkerMirroredStrategy on this host ({cores} logical cores, "
        f"{threads} thread(s) per worker; the workers share them):",
        (
            "workers",
            "batch/worker",
            "global batch",
            "s/step",
            "examples/s",
            "speedup",
            "efficiency",
            "all-reduced MiB",
        ),
        rows,
    )
    extra = results["communication"].get("extra_seconds_per_step_with_2_workers")
    if extra is not None:
        print(f"  2 workers' extra time per step (all-reduce + contention, at most): {extra:.3g} s")
    print_estimate(results["estimate"])


def print_estimate(estimate):
    rows = [
        (
            preset,
            name,
            cluster["bytes_sent_per_device"] / 2**20,
            cluster["all_reduce_seconds"] * 1e3,
            cluster["compute_seconds"] * 1e3,
            f"{cluster['all_reduce_over_compute']:.0%}",
            f"{cluster['share_of_step_without_overlap']:.0%}",
            cluster["smallest_batch_per_device_that_hides_it"],
        )
        for preset, model in estimate["presets"].items()
        for name, cluster in model["clusters"].items()
    ]
    report.print_table(
        f"Estimate: ring all-reduce of float32 gradients against compute at "
        f"{estimate['share_of_peak']:.0%} of bf16 peak, {estimate['batch_per_device']} "
        f"examples per device, {estimate['target_tokens']} target tokens:",
        (
            "model",
            "cluster",
            "sent MiB/device",
            "all-reduce ms",
            "compute ms",
            "all-reduce/compute",
            "of step, not overlapped",
            "hides from batch",
        ),
        rows,
    )
    for name, cluster in estimate["clusters"].items():
        print(f"  {name}: {cluster['source']}.")


# Measurements, each in its own process ---------------------------------------


def measure_worker(settings):
    """One worker of a cluster: the real Trainer's step under MultiWorkerMirroredStrategy."""
    # The cluster must be known before TensorFlow loads.
    os.environ["TF_CONFIG"] = json.dumps(settings["tf_config"])
    tf = import_tensorflow_quietly()
    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
    from train.strategy import build_strategy

    strategy = build_strategy("multi_worker")
    trainer = build_trainer(strategy, settings)
    batches = synthetic_batches(strategy, settings)
    result = time_steps(lambda: trainer.train_step(next(batches)), settings)
    # The step as traced: what its collective operations carry.
    step = trainer._distributed_step.get_concrete_function(next(batches)[:2])
    return {
        **result,
        "trainable_parameters": sum(math.prod(v.shape) for v in trainer.trainable_variables),
        "collective_bytes": collective_bytes(step.graph),
    }


def collective_bytes(graph):
    """Bytes into the graph's all-reduce operations (MultiWorkerMirroredStrategy
    packs the tensors of one all-reduce into one)."""
    return sum(
        op.inputs[0].shape.num_elements() * op.inputs[0].dtype.size
        for op in graph.get_operations()
        if op.type.startswith("CollectiveReduce")
    )


def count_trainable_parameters(settings):
    """{preset: trainable parameters of its WhisperAudioToText}."""
    import_tensorflow_quietly()
    import keras

    from whisper import WhisperAudioToText
    from whisper import WhisperBackbone
    from whisper.whisper_presets import backbone_presets

    counts = {}
    for preset in settings["presets"]:
        model = WhisperAudioToText(WhisperBackbone(**backbone_presets[preset]["config"]))
        counts[preset] = sum(math.prod(v.shape) for v in model.trainable_variables)
        del model
        keras.backend.clear_session()
    return counts


if __name__ == "__main__":
    main()
