"""Input pipeline: examples/s the tf.data pipeline delivers, against the training step.

    python -m benchmarks.input_pipeline [--clips 64] [--batch-size 8] [--batches 32]
        [--passes 3] [--steps 3] [--architecture JSON] [--output input_pipeline.json]

The corpus is real speech: `--clips` WAV files of 1 to 6 everyday sentences
each (`SentenceGrammar`), spoken by espeak-ng (`espeak_speaker`) at its own
22,050 Hz, so that every example is resampled to 16 kHz as most corpora
are, and listed in a JSONL manifest.

The pipeline side, in a process of its own, is `build_dataset` as
`python -m train data=manifest` builds it (the arguments of
configs/data/manifest.yaml: 30 s windows, no SpecAugment, a record log),
read batch by batch as the trainer reads it: its examples/s on every core
here and on one (`single_core_options`: a private tf.data thread pool of
one thread, one thread per op), and the same with `features_in_step` (the
log-mel moved into the compiled step). Against it, in another process,
`benchmarks.train_step.measure_ours`: the real Trainer's step on
whisper_tiny_en at the same batch and token length. Goal: the pipeline at
least 5x the step. (Each side has the machine to itself here; in training
they share it.)

The cost of each stage is its function alone in a tf.data map with the
pipeline's parallelism (AUTOTUNE, order kept), fed from the previous
stage's output held in memory (`cache`), so that no stage pays for another,
over as many examples as the full pipeline is timed on:
records (the Python generator: manifest rows, shuffle, tokenization; the
tokenizer alone also timed), decode (the file read, `ExampleFilter` at the
file's own rate), resample (`audio_io.resample` to 16 kHz), features
(`Featurizer.featurize`: 30 s padding, log-mel), batching
(`Featurizer.batch`) and SpecAugment (off by default). Each is timed on
every core and on one, its median over `--passes`, with the process's CPU
seconds. From the one-core costs and `benchmarks.whisper_flops`, the
projection: host cores to feed one H100 at 40 % of its bf16 peak for
tiny, base and small, and which stages must leave the host's CPUs.
"""

import argparse
import json
import math
import os
import statistics
import tempfile
import time

import numpy as np

from benchmarks import peer_process
from benchmarks import report
from benchmarks.whisper_flops import training_flop_per_example

# Sentences per clip: 1 to 6 make clips of about 2 to 17 s, 10 s on average
# (64 clips), near LibriSpeech's 12 s.
SENTENCES_PER_CLIP = (1, 6)
WINDOW_SECONDS = 30.0
PIPELINE_SEED = 0
STEP_PRESET = "whisper_tiny_en"
# The model group's default dtype (configs/model/tiny_en.yaml).
STEP_PRECISION = "float32"
# The trainer group's default (configs/trainer/default.yaml): nothing recomputed.
STEP_REMATERIALIZATION = "none"
WARMUP_BATCHES = 2
# The pipeline as configured, and with the log-mel moved into the step.
PIPELINE_VARIANTS = {"features on the host": False, "features in step": True}

# Stages of the default pipeline, in order; SpecAugment is off by default.
HOST_STAGES = ("records", "decode", "resample", "features", "batching")
OPTIONAL_STAGES = ("spec_augment",)
# Stages that run Python under the pipeline process's one GIL (see
# data_pipelines/pipeline.py): together they cap one process's rate
# whatever its cores.
PYTHON_STAGES = ("records", "decode", "resample")
# Where a stage can go instead of the host's CPUs: the log-mel into the
# compiled step, resampling once, offline, into shards stored at 16 kHz.
DESTINATIONS = {
    "features": "the accelerator (data.features_in_step=true)",
    "resample": "pre-encoded shards (audio stored at 16 kHz, resampled once)",
}
SERVICE_WORKERS = "tf.data service workers"
STAGE_NOTES = {"tokenize": " (part of records)", "spec_augment": " (off by default)"}

# The projection: one H100 SXM at 40 % of its dense bf16 peak.
H100_BF16_FLOP_PER_SECOND = 989e12
TARGET_UTILIZATION = 0.4
PROJECTED_PRESETS = {
    "tiny": "whisper_tiny_en",
    "base": "whisper_base_en",
    "small": "whisper_small_en",
}
PROJECTED_TARGET_TOKENS = 128
# A DGX H100 has two 56-core Xeon 8480C for its eight GPUs.
HOST_CORES_PER_H100 = 14


def main():
    args = parse_arguments()
    settings = {
        "clips": args.clips,
        "batch_size": args.batch_size,
        "batches": args.batches,
        "passes": args.passes,
        "steps": args.steps,
        "architecture": args.architecture,
    }
    with tempfile.TemporaryDirectory(prefix="input-pipeline-") as directory:
        corpus = write_corpus(directory, args.clips)
        pipeline = peer_process.measure_in_process(
            "benchmarks.input_pipeline:measure_pipeline",
            {**settings, "manifest": corpus["manifest"], "sampling_rate": corpus["sampling_rate"]},
        )
    step = measure_step(settings, pipeline["target_tokens"])
    results = summarize(corpus, pipeline, step)
    print_results(settings, results)
    report.write_results(args.output, "benchmarks.input_pipeline", settings, results)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=64, help="WAV files in the corpus")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=32, help="timed batches of the pipeline")
    parser.add_argument("--passes", type=int, default=3, help="timed passes over each stage")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument(
        "--architecture",
        type=json.loads,
        default={},
        help="JSON overriding the step's whisper_tiny_en architecture, e.g. '{\"num_layers\": 1}'",
    )
    report.add_output_argument(parser, "input_pipeline")
    return parser.parse_args()


# The corpus ---------------------------------------------------------------


def write_corpus(directory, clips):
    """Writes `clips` espeak-ng WAV files at its own rate and a JSONL manifest.

    Clips longer than one 30 s window, which the pipeline would skip, are
    left out.
    """
    import soundfile

    from data_pipelines.espeak_speaker import Utterance
    from data_pipelines.espeak_speaker import speak_in_fresh_process
    from data_pipelines.sentence_grammar import SentenceGrammar
    from data_pipelines.synthetic_source import DEFAULT_VOICES

    random = np.random.default_rng(0)
    grammar = SentenceGrammar()
    texts = [
        " ".join(grammar.sentence(random) for _ in range(random.integers(*SENTENCES_PER_CLIP) + 1))
        for _ in range(clips)
    ]
    utterances = [
        Utterance(text, voice=DEFAULT_VOICES[index % len(DEFAULT_VOICES)])
        for index, text in enumerate(texts)
    ]
    rate, waveforms = speak_in_fresh_process(utterances)
    rows = []
    for index, (text, waveform) in enumerate(zip(texts, waveforms)):
        if len(waveform) > WINDOW_SECONDS * rate:
            continue
        name = f"clip-{index:04d}.wav"
        soundfile.write(os.path.join(directory, name), waveform, rate, subtype="PCM_16")
        row = {"id": f"clip-{index:04d}", "audio": name, "text": text}
        rows.append({**row, "samples": len(waveform)})
    manifest = os.path.join(directory, "train.jsonl")
    with open(manifest, "w", encoding="utf-8") as file:
        for row in rows:
            file.write(json.dumps({key: row[key] for key in ("id", "audio", "text")}) + "\n")
    seconds = [row["samples"] / rate for row in rows]
    return {
        "manifest": manifest,
        "sampling_rate": rate,
        "clips": len(rows),
        "mean_clip_seconds": statistics.mean(seconds),
        "longest_clip_seconds": max(seconds),
    }


# The pipeline's process -----------------------------------------------------


def measure_pipeline(settings):
    """The full pipeline's examples/s and each stage's cost per example."""
    from whisper.utils.quiet_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    from data_pipelines.manifest_source import ManifestSource
    from whisper import WhisperAudioConverter
    from whisper import WhisperTokenizer

    tokenizer = WhisperTokenizer.from_preset("tiny_en")
    converter = WhisperAudioConverter()
    source = ManifestSource(settings["manifest"])
    full = {
        variant: measure_full_pipeline(
            source, tokenizer, converter, settings, features_in_step=features_in_step
        )
        for variant, features_in_step in PIPELINE_VARIANTS.items()
    }
    return {
        "full": full,
        "target_tokens": full["features on the host"]["target_tokens"],
        "stages": measure_stages(source, tokenizer, converter, settings),
    }


def single_core_options():
    """tf.data options confining a pipeline to one thread at a time."""
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    return options


def manifest_config():
    """The config `python -m train data=manifest` runs with."""
    from train.config import compose_train_config

    return compose_train_config("data=manifest")


def training_dataset(source, tokenizer, converter, batch_size, *, features_in_step):
    """`build_dataset` with the arguments `train.data.build_run_data` gives it
    for the manifest data group, on one worker."""
    from data_pipelines.pipeline import build_dataset
    from data_pipelines.record_log import RecordLog
    from train.data import pipeline_arguments

    config = manifest_config()
    data_settings = pipeline_arguments(config.data, build_dataset)
    return build_dataset(
        source,
        tokenizer,
        converter,
        batch_size=batch_size,
        training=True,
        seed=PIPELINE_SEED,
        language=config.model.language,
        task=config.model.task,
        **(data_settings | {"features_in_step": features_in_step}),
        record_log=RecordLog(),
    )


def measure_full_pipeline(source, tokenizer, converter, settings, *, features_in_step):
    """Examples/s of `--batches` batches read as the trainer reads them,
    on every core and on one, and the batches' (median) token length."""
    measured = {}
    for cores, options in (("all_cores", None), ("single_core", single_core_options())):
        dataset = training_dataset(
            source, tokenizer, converter, settings["batch_size"], features_in_step=features_in_step
        )
        if options is not None:
            dataset = dataset.with_options(options)
        measured[cores], token_lengths = read_batches(dataset, settings)
    measured["target_tokens"] = int(statistics.median(token_lengths))
    return measured


def read_batches(dataset, settings):
    """Times `--batches` batches after `WARMUP_BATCHES`; returns the speed
    and each batch's token length."""
    batches = iter(dataset)
    for _ in range(WARMUP_BATCHES):
        next(batches)
    token_lengths = []

    def read():
        for _ in range(settings["batches"]):
            token_lengths.append(int(next(batches)[1].shape[1]))

    wall, cpu = timed(read)
    examples = settings["batches"] * settings["batch_size"]
    speed = {"examples_per_second": examples / wall, "cpu_seconds_per_example": cpu / examples}
    return speed, token_lengths


def measure_stages(source, tokenizer, converter, settings):
    """Seconds per example of each stage alone, fed from memory."""
    import tensorflow as tf

    from data_pipelines.example_filter import ExampleFilter
    from data_pipelines.featurizer import Featurizer
    from data_pipelines.record_log import RecordLog
    from data_pipelines.shard_records import RECORD_SIGNATURE
    from data_pipelines.shard_records import ShardRecords
    from data_pipelines.skip_counter import SkipCounter
    from data_pipelines.spec_augment import SpecAugment
    from data_pipelines.target_builder import TargetBuilder
    from train.data import pipeline_arguments
    from whisper import audio_io

    config = manifest_config()
    target_builder = TargetBuilder(
        tokenizer,
        seed=PIPELINE_SEED,
        language=config.model.language,
        task=config.model.task,
        **pipeline_arguments(config.data, TargetBuilder),
    )
    limits = pipeline_arguments(config.data, ExampleFilter)
    text_filter = ExampleFilter(target_builder, **limits)
    shard = ShardRecords(
        source,
        0,
        1,
        text_filter,
        shuffle_seed=PIPELINE_SEED,
        shuffle_buffer=config.data.shuffle_buffer,
        repeat=True,
    )
    # At the file's own rate `ExampleFilter` reads without resampling.
    file_rate = settings["sampling_rate"]
    reader = ExampleFilter(None, sampling_rate=file_rate, **limits)
    featurizer = Featurizer(converter, **pipeline_arguments(config.data, Featurizer))
    spec_augment = SpecAugment()
    clips = len(source)
    passes = settings["passes"]

    def read(record):
        def read_file(path):
            return reader.waveform("", None, 0, os.fsdecode(path), b"")

        waveform = tf.numpy_function(read_file, [record["path"]], tf.float32, stateful=True)
        waveform.set_shape([None])
        return {"waveform": waveform, "target_ids": record["target_ids"]}

    def resample(example):
        def to_16_khz(waveform):
            resampled = audio_io.resample(waveform, file_rate, audio_io.WHISPER_SAMPLING_RATE)
            return resampled.astype(np.float32, copy=False)

        waveform = tf.numpy_function(to_16_khz, [example["waveform"]], tf.float32, stateful=True)
        waveform.set_shape([None])
        return {**example, "waveform": waveform}

    def batch(examples):
        padding = {"encoder_features": 0.0, "num_frames": 0, "bucket": 0}
        padding["target_ids"] = tokenizer.pad_token_id
        return featurizer.batch(examples, settings["batch_size"], padding, drop_remainder=False)

    def augment(index, examples):
        seed = tf.stack([tf.constant(PIPELINE_SEED, tf.int64), index])
        return spec_augment(examples["encoder_features"], examples["num_frames"], seed)

    records = tf.data.Dataset.from_generator(
        lambda: shard.records(SkipCounter(), RecordLog()), output_signature=RECORD_SIGNATURE
    )
    # Each timed pass reads the examples the full pipeline is timed on, the
    # clips over and over, so that starting a pass costs little per example.
    repeats = math.ceil(settings["batches"] * settings["batch_size"] / clips)
    examples = clips * repeats
    costs = {"records": stage_costs(records.take(examples), examples, passes)}
    speech_examples = list(source.examples())
    costs["tokenize"] = tokenize_cost(speech_examples * repeats, text_filter, passes)
    stage_input = records.take(clips)
    for name, stage in (
        ("decode", lambda inputs: parallel_map(inputs, read)),
        ("resample", lambda inputs: parallel_map(inputs, resample)),
        ("features", lambda inputs: parallel_map(inputs, featurizer.featurize)),
        ("batching", batch),
        ("spec_augment", lambda batches: parallel_map(batches.enumerate(), augment)),
    ):
        stage_input = warmed_cache(stage_input)
        costs[name] = stage_costs(stage(stage_input.repeat(repeats)), examples, passes)
        stage_input = stage(stage_input)
    return costs


def parallel_map(dataset, function):
    """A map as the pipeline maps its stages: AUTOTUNE calls, order kept."""
    import tensorflow as tf

    return dataset.map(function, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def warmed_cache(dataset):
    """`dataset` held in memory after one pass, so the next stage reads it for free."""
    cached = dataset.cache()
    count_elements(cached)
    return cached


def count_elements(dataset):
    # `reduce` runs the pipeline in TensorFlow, without a Python call per element.
    return int(dataset.reduce(0, lambda count, _: count + 1))


def stage_costs(dataset, examples, passes):
    """Median seconds per example of full passes on every core and on one,
    and the process's CPU seconds per example on every core."""
    count_elements(dataset)  # Warm-up: threads started, buffers sized.
    all_cores = [timed(lambda: count_elements(dataset)) for _ in range(passes)]
    single = dataset.with_options(single_core_options())
    single_core = [timed(lambda: count_elements(single))[0] for _ in range(passes)]
    return {
        "all_cores_seconds_per_example": statistics.median(w for w, _ in all_cores) / examples,
        "single_core_seconds_per_example": statistics.median(single_core) / examples,
        "cpu_seconds_per_example": statistics.median(c for _, c in all_cores) / examples,
    }


def tokenize_cost(examples, text_filter, passes):
    """The records stage's tokenization alone: one Python thread, as there."""

    def tokenize_all():
        for position, example in enumerate(examples):
            text_filter.target(example, position)

    measured = [timed(tokenize_all) for _ in range(passes)]
    seconds = statistics.median(w for w, _ in measured) / len(examples)
    return {
        "all_cores_seconds_per_example": seconds,
        "single_core_seconds_per_example": seconds,
        "cpu_seconds_per_example": statistics.median(c for _, c in measured) / len(examples),
    }


def timed(function):
    """(wall-clock seconds, this process's CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


# The step's process ---------------------------------------------------------


def measure_step(settings, target_tokens):
    """What the real Trainer's step consumes: examples/s at the pipeline's shapes."""
    measured = peer_process.measure_in_process(
        "benchmarks.train_step:measure_ours",
        {
            "preset": STEP_PRESET,
            "batch_size": settings["batch_size"],
            "target_tokens": target_tokens,
            "steps": settings["steps"],
            "warmup_steps": 1,
            "precision": STEP_PRECISION,
            "rematerialize": STEP_REMATERIALIZATION,
            "architecture": settings["architecture"],
        },
    )
    return {
        "seconds_per_step": measured["seconds_per_step"],
        "examples_per_second": settings["batch_size"] / measured["seconds_per_step"],
        "target_tokens": target_tokens,
    }


# Summary and projection -----------------------------------------------------


def summarize(corpus, pipeline, step):
    delivered = pipeline["full"]["features on the host"]["all_cores"]["examples_per_second"]
    stages = pipeline["stages"]
    return {
        "corpus": {key: value for key, value in corpus.items() if key != "manifest"},
        "pipeline": pipeline["full"],
        "step": step,
        "pipeline_over_step": delivered / step["examples_per_second"],
        "stages": stages,
        "projection": project(stages),
    }


def project(stages):
    """Host cores to feed one H100 at 40 % for each model, and what must move."""
    single = {name: stages[name]["single_core_seconds_per_example"] for name in HOST_STAGES}
    total = sum(single.values())
    models = {}
    for name, preset in PROJECTED_PRESETS.items():
        models[name] = project_model(preset, single)
    costliest = max(single, key=single.get)
    return {
        "h100_bf16_flop_per_second": H100_BF16_FLOP_PER_SECOND,
        "target_utilization": TARGET_UTILIZATION,
        "target_tokens": PROJECTED_TARGET_TOKENS,
        "host_cores_per_h100": HOST_CORES_PER_H100,
        "host_stages": list(HOST_STAGES),
        "python_stages": list(PYTHON_STAGES),
        "single_core_seconds_per_example": total,
        "stage_shares": {stage: seconds / total for stage, seconds in single.items()},
        "costliest_stage": costliest,
        "models": models,
        "text": projection_text(models, single, costliest),
    }


def project_model(preset, single):
    """The rate one H100 at 40 % trains `preset` at, and the host it takes.

    Stages leave the host, costliest first, while the rest needs more than
    `HOST_CORES_PER_H100` cores or more than one process's GIL allows;
    whatever still does not fit takes several processes: tf.data service
    workers.
    """
    from whisper.whisper_presets import backbone_presets

    flop = training_flop_per_example(
        backbone_presets[preset]["config"], target_tokens=PROJECTED_TARGET_TOKENS
    )
    rate = TARGET_UTILIZATION * H100_BF16_FLOP_PER_SECOND / flop
    on_host = list(HOST_STAGES)
    moved = []
    for stage in sorted(DESTINATIONS, key=single.get, reverse=True):
        if processes_needed(rate, on_host, single) == 1:
            break
        on_host.remove(stage)
        moved.append(stage)
    python_seconds = sum(single[stage] for stage in on_host if stage in PYTHON_STAGES)
    return {
        "preset": preset,
        "training_flop_per_example": flop,
        "examples_per_second_needed": rate,
        "host_cores_all_stages": rate * sum(single.values()),
        "stage_cores": {stage: rate * single[stage] for stage in HOST_STAGES},
        "moved_stages": moved,
        "host_cores_after_moving": rate * sum(single[stage] for stage in on_host),
        "examples_per_second_per_process": 1 / python_seconds,
        "processes_needed": processes_needed(rate, on_host, single),
    }


def processes_needed(rate, on_host, single):
    """Pipeline processes of `HOST_CORES_PER_H100` cores that run `on_host` at
    `rate`: enough cores, and enough GILs for the Python stages."""
    cores = rate * sum(single[stage] for stage in on_host)
    python_seconds = sum(single[stage] for stage in on_host if stage in PYTHON_STAGES)
    return max(1, math.ceil(cores / HOST_CORES_PER_H100), math.ceil(rate * python_seconds))


def projection_text(models, single, costliest):
    total = sum(single.values())
    rates = ", ".join(f"{m['examples_per_second_needed']:,.0f} for {n}" for n, m in models.items())
    cores = ", ".join(f"{m['host_cores_all_stages']:,.0f} ({n})" for n, m in models.items())
    shares = ", ".join(f"{stage} {seconds / total:.0%}" for stage, seconds in single.items())
    lines = [
        f"One H100 at {TARGET_UTILIZATION:.0%} of {H100_BF16_FLOP_PER_SECOND / 1e12:,.0f} bf16 "
        f"TFLOP/s takes {rates} examples/s ({PROJECTED_TARGET_TOKENS} target tokens, 30 s "
        f"windows). At {total * 1e3:.1f} ms per example on one core ({shares}), the host "
        f"pipeline needs {cores} cores, against {HOST_CORES_PER_H100} per GPU on a DGX H100.",
        f"The stage that must move first is {costliest} "
        f"({single[costliest] / total:.0%} of the cost)"
        + (f", to {DESTINATIONS[costliest]}." if costliest in DESTINATIONS else "."),
    ]
    for name, model in models.items():
        lines.append(model_plan(name, model))
    return " ".join(lines)


def model_plan(name, model):
    moved = "; ".join(f"{stage} to {DESTINATIONS[stage]}" for stage in model["moved_stages"])
    plan = f"{name}: move {moved}, " if moved else f"{name}: nothing needs to move, "
    plan += f"leaving {model['host_cores_after_moving']:,.1f} host cores"
    if model["processes_needed"] > 1:
        plan += (
            f"; the Python stages left share one GIL per process, which gives at most "
            f"{model['examples_per_second_per_process']:,.0f} examples/s, so it takes "
            f"{model['processes_needed']} {SERVICE_WORKERS}"
        )
    return plan + "."


def print_results(settings, results):
    corpus = results["corpus"]
    step = results["step"]
    rows = [
        (
            f"pipeline, {variant}",
            side["all_cores"]["examples_per_second"],
            side["single_core"]["examples_per_second"],
            side["all_cores"]["cpu_seconds_per_example"] * 1e3,
        )
        for variant, side in results["pipeline"].items()
    ]
    overridden = ", architecture overridden" if settings["architecture"] else ""
    step_name = f"training step ({STEP_PRESET}{overridden})"
    rows.append((step_name, step["examples_per_second"], "", ""))
    report.print_table(
        f"Input pipeline, {corpus['clips']} WAV clips at {corpus['sampling_rate']} Hz "
        f"(mean {corpus['mean_clip_seconds']:.1f} s), 30 s windows, batch "
        f"{settings['batch_size']}, {os.cpu_count()} cores:",
        ("side", "examples/s", "1 core", "CPU ms/example"),
        rows,
    )
    print(f"  pipeline / training step: {results['pipeline_over_step']:.1f}x (goal 5x)")
    stage_rows = [
        (
            name + STAGE_NOTES.get(name, ""),
            cost["all_cores_seconds_per_example"] * 1e3,
            cost["single_core_seconds_per_example"] * 1e3,
            cost["cpu_seconds_per_example"] * 1e3,
        )
        for name, cost in results["stages"].items()
    ]
    report.print_table(
        "Stage costs, each stage alone (ms per example):",
        ("stage", "all cores", "1 core", "CPU"),
        stage_rows,
    )
    projection = results["projection"]
    model_rows = [
        (
            name,
            model["training_flop_per_example"] / 1e9,
            model["examples_per_second_needed"],
            model["host_cores_all_stages"],
            ", ".join(model["moved_stages"]) or "-",
            model["host_cores_after_moving"],
            model["processes_needed"],
        )
        for name, model in projection["models"].items()
    ]
    report.print_table(
        "Feeding one H100 at 40 % of peak:",
        ("model", "GFLOP/example", "examples/s", "host cores", "moved", "cores then", "processes"),
        model_rows,
    )
    print(f"  {projection['text']}")


if __name__ == "__main__":
    main()
