"""Less work per example on short clips: 30 s padding, clip-length windows, packing.

On a corpus of short clips (the built-in synthetic one: espeak-ng
sentences of 5 to 15 words, about 2 to 7 s), each way of windowing them
fine-tunes tiny.en (`experiment=finetune_tiny_en`) through `python -m
train`, one process a run, for the same wall-clock budget of training
steps:

- `padded_30s`: every clip padded to 30 s, as Whisper was trained;
- `clip_length`: windows as long as the clip (2 s buckets);
- `clip_min_10s`: the same, no window shorter than 10 s;
- `packed`: consecutive clips concatenated into each 30 s window, their
  transcripts joined into one target.

A short calibration run of each mode measures its step time first (the
median of its steps after the first, which compiles), so each mode's run
gets the steps that fill the budget, its learning-rate schedule completed.
Each exported preset is then decoded greedily on the held-out clips in
30 s windows, one clip at a time, as a user decodes them, and scored.

    python -m benchmarks.short_clips

prints utterances/s (windows/s times utterances per window), the ratio to
30 s padding and the held-out WER of each mode, with the pretrained
model's, and writes JSON.
"""

import argparse
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

from benchmarks.peer_process import measure_in_process
from benchmarks.report import add_output_argument
from benchmarks.report import print_table
from benchmarks.report import write_results

# Each mode sets every windowing option, whatever the experiment's defaults.
MODES = {
    "padded_30s": ["data.clip_length_windows=false", "data.min_window_seconds=0"],
    "clip_length": ["data.clip_length_windows=true", "data.min_window_seconds=0"],
    "clip_min_10s": ["data.clip_length_windows=true", "data.min_window_seconds=10"],
    "packed": [
        "data.clip_length_windows=false",
        "data.min_window_seconds=0",
        "data.packing=true",
    ],
}
# The console's speed column for each logged step (see train.tracking).
EXAMPLES_PER_SECOND = re.compile(r"\| ([\d.,]+) examples/s")


def main():
    settings = parse_arguments()
    packed = measure_in_process("benchmarks.short_clips:utterances_per_packed_window", settings)
    utterances_per_window = {
        mode: packed["utterances"] if mode == "packed" else 1.0 for mode in settings["modes"]
    }
    step_seconds = {mode: calibrate(mode, settings) for mode in settings["modes"]}
    results = {
        "pretrained_wer": measure_in_process(
            "benchmarks.short_clips:held_out_wer", {**settings, "model": settings["pretrained"]}
        )["wer"],
        "modes": {},
    }
    for mode in settings["modes"]:
        steps = max(1, round(settings["budget_seconds"] / step_seconds[mode]))
        with tempfile.TemporaryDirectory() as run_dir:
            run_training(mode, steps, run_dir, settings)
            wer = measure_in_process(
                "benchmarks.short_clips:held_out_wer",
                {**settings, "model": str(pathlib.Path(run_dir) / "preset")},
            )["wer"]
        windows_per_second = settings["batch_size"] / step_seconds[mode]
        results["modes"][mode] = {
            "step_seconds": step_seconds[mode],
            "steps": steps,
            "utterances_per_window": utterances_per_window[mode],
            "utterances_per_second": windows_per_second * utterances_per_window[mode],
            "held_out_wer": wer,
        }
    print_results(settings, results)
    write_results(settings["output"], "benchmarks.short_clips", settings, results)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument(
        "--budget-seconds", type=float, default=150.0, help="training time of each mode"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="global batch of windows")
    parser.add_argument(
        "--calibration-steps", type=int, default=4, help="steps timing each mode, the first untimed"
    )
    parser.add_argument("--eval-examples", type=int, default=32, help="held-out clips decoded")
    parser.add_argument(
        "--pretrained", default="tiny_en", help="the preset the runs start from, scored too"
    )
    parser.add_argument(
        "--train-overrides",
        nargs="*",
        default=[],
        help="more Hydra overrides for every run (e.g. model=tiny_random for a quick check)",
    )
    add_output_argument(parser, "short_clips")
    arguments = parser.parse_args()
    if arguments.calibration_steps < 2:
        parser.error("--calibration-steps must be at least 2: the first step compiles.")
    return vars(arguments)


def train_command(mode, steps, run_dir, settings):
    """`python -m train` for one mode: the fine-tuning experiment, `steps`
    steps, one held-out clip scored by the run itself (the benchmark scores
    its preset), no checkpoint before the end."""
    return [
        sys.executable,
        "-m",
        "train",
        "experiment=finetune_tiny_en",
        "tracker=console",
        "tracker.log_every_steps=1",
        f"run_dir={run_dir}",
        f"trainer.global_batch_size={settings['batch_size']}",
        f"trainer.steps={steps}",
        f"trainer.eval_every_steps={steps}",
        f"trainer.checkpoint_every_steps={steps}",
        f"schedule.warmup_steps={max(1, steps // 10)}",
        "data.max_eval_examples=1",
        *MODES[mode],
        *settings["train_overrides"],
    ]


def run_training(mode, steps, run_dir, settings):
    """Runs one mode's training; returns its console output."""
    command = train_command(mode, steps, run_dir, settings)
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command[1:])} failed:\n{completed.stderr[-3000:]}")
    return completed.stdout


def calibrate(mode, settings):
    """Seconds a training step of `mode` takes, compilation excluded."""
    with tempfile.TemporaryDirectory() as run_dir:
        stdout = run_training(mode, settings["calibration_steps"], run_dir, settings)
    rates = [float(rate.replace(",", "")) for rate in EXAMPLES_PER_SECOND.findall(stdout)]
    return settings["batch_size"] / statistics.median(rates[1:])


def utterances_per_packed_window(settings):
    """Mean utterances in a packed training window, over 16 batches of the
    synthetic corpus's training pipeline (the other modes hold one)."""
    from data_pipelines.pipeline import build_dataset
    from data_pipelines.record_log import RecordLog
    from data_pipelines.source_factory import build_source
    from train.config import compose_train_config
    from train.data import pipeline_arguments
    from train.model import load_tokenizer

    config = compose_train_config("data=synthetic", *MODES["packed"])
    tokenizer = load_tokenizer(settings["pretrained"])
    dataset = build_dataset(
        build_source(config.data.source, **config.data.train),
        tokenizer,
        _converter(),
        batch_size=settings["batch_size"],
        seed=config.seed,
        language=config.model.language,
        task=config.model.task,
        **pipeline_arguments(config.data, build_dataset),
        record_log=RecordLog(),
    )
    members = [
        (positions >= 0).sum(axis=1).mean()
        for _, _, positions in dataset.take(16).as_numpy_iterator()
    ]
    return {"utterances": float(statistics.mean(members))}


def held_out_wer(settings):
    """The held-out WER of the preset `settings["model"]`, greedy, 30 s windows."""
    from data_pipelines.pipeline import build_eval_examples
    from data_pipelines.source_factory import build_source
    from train.config import compose_train_config
    from train.data import pipeline_arguments
    from train.evaluate import evaluate
    from whisper.whisper_audio_to_text import WhisperAudioToText

    config = compose_train_config("data=synthetic")
    data, trainer = config.data, config.trainer
    model = WhisperAudioToText.from_preset(settings["model"])
    examples = build_eval_examples(
        build_source(data.source, **data.eval),
        _converter(),
        **pipeline_arguments(data, build_eval_examples),
        max_examples=settings["eval_examples"],
    )
    result = evaluate(
        model, examples, batch_size=trainer.eval_batch_size, max_length=trainer.max_decode_length
    )
    return {"wer": result.wer}


def _converter():
    """Whisper's 30 s log-mel features, as users decode."""
    from whisper.whisper_audio_converter import WhisperAudioConverter

    return WhisperAudioConverter()


def print_results(settings, results):
    modes = results["modes"]
    baseline = modes.get("padded_30s")
    rows = []
    for mode, result in modes.items():
        ratio = (
            result["utterances_per_second"] / baseline["utterances_per_second"] if baseline else "-"
        )
        rows.append(
            [
                mode,
                result["step_seconds"],
                result["steps"],
                result["utterances_per_window"],
                result["utterances_per_second"],
                ratio,
                result["held_out_wer"],
            ]
        )
    print_table(
        f"Short clips, {settings['budget_seconds']:g} s of training each, batch "
        f"{settings['batch_size']}; pretrained held-out WER {results['pretrained_wer']:.3f} "
        "(greedy, 30 s windows)",
        ["mode", "s/step", "steps", "utt/window", "utt/s", "vs padded", "held-out WER"],
        rows,
    )


if __name__ == "__main__":
    main()
