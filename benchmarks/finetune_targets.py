"""What fine-tuning's targets do to timestamps and prompted decoding.

Models fine-tuned on plain transcripts forget what else Whisper writes.
On clips of two espeak-ng sentences each, cut from longer recordings
(`benchmarks.timed_clips`), tiny.en is fine-tuned through `python -m
train experiment=finetune_tiny_en` once per variant:

- `plain`: plain-text targets, the default;
- `targets`: `data.timestamps=true` (half the examples without them) and
  `data.previous_text_probability=0.5` (prompted with the previous clip).

Then the pretrained model and each exported preset transcribe the clips of
held-out recordings, one clip at a time in a 30 s window:

- with timestamps, greedy, the decoder's own times (no silence trimming):
  the error of every segment boundary against the true sentence
  boundaries, mean and largest;
- without timestamps, the word error rate with no prompt and with the
  previous clip's text as the prompt (`initial_prompt`), on the clips that
  have one.

    python -m benchmarks.finetune_targets

prints the table and writes JSON.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from benchmarks.peer_process import measure_in_process
from benchmarks.report import add_output_argument
from benchmarks.report import print_table
from benchmarks.report import write_results
from benchmarks.timed_clips import write_timed_clips

VARIANTS = {
    "plain": [],
    "targets": [
        "data.timestamps=true",
        "data.without_timestamps_share=0.5",
        "data.previous_text_probability=0.5",
    ],
}
# Held-out recordings are spoken from seeds far from the training ones.
HELD_OUT_SEED = 1000


def main():
    settings = parse_arguments()
    with tempfile.TemporaryDirectory() as directory:
        train_manifest = write_timed_clips(
            os.path.join(directory, "train"),
            settings["recordings"],
            settings["clips_per_recording"],
        )
        held_out = write_timed_clips(
            os.path.join(directory, "held_out"),
            settings["held_out_recordings"],
            settings["clips_per_recording"],
            seed=HELD_OUT_SEED,
        )
        scores = {"pretrained": held_out_scores_of(settings["pretrained"], held_out)}
        for variant in settings["variants"]:
            run_dir = os.path.join(directory, variant)
            run_training(variant, train_manifest, held_out, run_dir, settings)
            scores[variant] = held_out_scores_of(os.path.join(run_dir, "preset"), held_out)
    results = {"models": scores}
    print_results(settings, results)
    write_results(settings["output"], "benchmarks.finetune_targets", settings, results)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--recordings", type=int, default=12, help="training recordings")
    parser.add_argument("--held-out-recordings", type=int, default=6)
    parser.add_argument("--clips-per-recording", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60, help="training steps of each variant")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--pretrained", default="tiny_en", help="the preset fine-tuned")
    add_output_argument(parser, "finetune_targets")
    return vars(parser.parse_args())


def train_command(variant, train_manifest, held_out, run_dir, settings):
    steps = settings["steps"]
    return [
        sys.executable,
        "-m",
        "train",
        "experiment=finetune_tiny_en",
        "data=manifest",
        f"data.train.path={train_manifest}",
        f"data.eval.path={held_out}",
        f"model.preset={settings['pretrained']}",
        "tracker=console",
        f"run_dir={run_dir}",
        f"trainer.global_batch_size={settings['batch_size']}",
        f"trainer.steps={steps}",
        f"trainer.eval_every_steps={steps}",
        f"trainer.checkpoint_every_steps={steps}",
        f"schedule.warmup_steps={max(1, steps // 10)}",
        "data.max_eval_examples=4",
        *VARIANTS[variant],
    ]


def run_training(variant, train_manifest, held_out, run_dir, settings):
    command = train_command(variant, train_manifest, held_out, run_dir, settings)
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command[1:])} failed:\n{completed.stderr[-3000:]}")


def held_out_scores_of(model, manifest):
    return measure_in_process(
        "benchmarks.finetune_targets:held_out_scores", {"model": model, "manifest": manifest}
    )


def held_out_scores(settings):
    """Boundary errors and WER without and with prompts, for one model."""
    from data_pipelines.manifest_source import ManifestSource
    from train.evaluate import error_rates
    from train.evaluate import text_normalizer
    from whisper.audio_io import load_audio
    from whisper.transcription.long_form_transcriber import LongFormTranscriber
    from whisper.whisper_audio_to_text import WhisperAudioToText

    model = WhisperAudioToText.from_preset(
        settings["model"],
        audio_converter={"pad_to_max_audio_length": True},
    )
    # One greedy pass each, no fallback, the decoder's own times.
    decoding = {
        "temperatures": (0.0,),
        "compression_ratio_threshold": None,
        "log_prob_threshold": None,
        "no_speech_threshold": None,
        "condition_on_previous_text": False,
    }
    timed = LongFormTranscriber(model, **decoding)
    plain = LongFormTranscriber(model, without_timestamps=True, **decoding)
    errors, references, unprompted, prompted = [], [], [], []
    for example in ManifestSource(settings["manifest"]).examples():
        waveform = load_audio(example.path)
        errors += boundary_errors(example.segments, timed.transcribe(waveform).segments)
        if example.previous_text:
            prompter = LongFormTranscriber(
                model, without_timestamps=True, initial_prompt=example.previous_text, **decoding
            )
            references.append(example.text)
            unprompted.append(plain.transcribe(waveform).text)
            prompted.append(prompter.transcribe(waveform).text)
    normalizer = text_normalizer()
    return {
        "mean_boundary_error_seconds": sum(errors) / len(errors),
        "max_boundary_error_seconds": max(errors),
        "wer_without_prompt": error_rates(references, unprompted, normalizer)[0],
        "wer_with_prompt": error_rates(references, prompted, normalizer)[0],
        "prompted_clips": len(references),
    }


def boundary_errors(truth, predicted):
    """Per true segment boundary (start and end), the distance in seconds to
    the nearest predicted boundary of the same kind (30 s if none)."""
    errors = []
    for kind in ("start", "end"):
        times = [getattr(segment, kind) for segment in predicted]
        for segment in truth:
            true_time = getattr(segment, kind)
            errors.append(min((abs(t - true_time) for t in times), default=30.0))
    return errors


def print_results(settings, results):
    rows = [
        [
            name,
            score["mean_boundary_error_seconds"],
            score["max_boundary_error_seconds"],
            score["wer_without_prompt"],
            score["wer_with_prompt"],
        ]
        for name, score in results["models"].items()
    ]
    print_table(
        f"Fine-tuning targets, tiny.en, {settings['steps']} steps of batch "
        f"{settings['batch_size']} on {settings['recordings']} recordings; held-out "
        f"{settings['held_out_recordings']} recordings",
        ["model", "mean boundary err s", "max boundary err s", "WER", "WER prompted"],
        rows,
    )


if __name__ == "__main__":
    main()
