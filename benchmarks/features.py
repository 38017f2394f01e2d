"""Log-mel features: audio seconds per second, ours in tf.data against two peers.

    python -m benchmarks.features [--clips 64] [--repeats 3] [--batch-size 8]
        [--output features.json]

Every side turns the same clips (synthetic speech-like waveforms of 5 to
30 s at 16 kHz, made from one seed) into 30 s, 80-mel features, in batches,
the way its users do:

- ours: the training pipeline's way, a `tf.data` pipeline from in-memory
  waveforms through `data_pipelines.featurizer.Featurizer` (padding to
  30 s, `WhisperAudioConverter`) mapped with AUTOTUNE parallelism, batched
  and prefetched;
- keras_hub 0.32's `keras_hub.layers.WhisperAudioConverter`, called on
  ragged batches of waveforms (it pads to 30 s itself);
- transformers' `WhisperFeatureExtractor` (its default 80-mel config, built
  locally), called on lists of NumPy waveforms (it pads to 30 s itself).

Each side runs in a process of its own (keras_hub and our `whisper` never
share one), converts every clip once to warm up, then `--repeats` times
timed. Speed is the clips' real (unpadded) audio seconds over the timed
wall-clock seconds; the ratio is ours over the fastest peer. Each side also
saves its features of the first clips, so that the parent reports the
largest absolute difference between ours and each peer.
"""

import argparse
import os
import tempfile
import time

import numpy as np

from benchmarks import peer_process
from benchmarks import report

SAMPLING_RATE = 16000
WINDOW_SECONDS = 30
NUM_MELS = 80
SHORTEST_CLIP_SECONDS = 5.0
# Features kept per side for the agreement check (each 3000 x 80 floats).
COMPARED_CLIPS = 4
SIDES = {
    "ours (tf.data)": "benchmarks.features:measure_ours",
    "keras_hub": "benchmarks.features:measure_keras_hub",
    "transformers": "benchmarks.features:measure_transformers",
}
OURS = "ours (tf.data)"


def main():
    args = parse_arguments()
    settings = {"clips": args.clips, "repeats": args.repeats, "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory() as directory:
        results = {}
        for index, (name, target) in enumerate(SIDES.items()):
            features_path = os.path.join(directory, f"side_{index}.npy")
            results[name] = peer_process.measure_in_process(
                target, {**settings, "features_path": features_path}
            )
            results[name]["features"] = np.load(features_path)
    summary = summarize(results)
    print_results(settings, summary)
    report.write_results(args.output, "benchmarks.features", settings, summary)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    report.add_output_argument(parser, "features")
    return parser.parse_args()


def summarize(results):
    """Speeds, the ratio ours / fastest peer, and how far the features differ."""
    peers = [name for name in results if name != OURS]
    fastest = max(peers, key=lambda name: results[name]["audio_seconds_per_second"])
    ours = results[OURS]
    return {
        "sides": {
            name: {key: value for key, value in result.items() if key != "features"}
            for name, result in results.items()
        },
        "fastest_peer": fastest,
        "ours_over_fastest_peer": ours["audio_seconds_per_second"]
        / results[fastest]["audio_seconds_per_second"],
        "max_abs_difference": {
            f"ours vs {name}": float(np.max(np.abs(ours["features"] - results[name]["features"])))
            for name in peers
        },
    }


def print_results(settings, summary):
    rows = [
        (name, side["audio_seconds_per_second"], side["seconds"], side["audio_seconds"])
        for name, side in summary["sides"].items()
    ]
    report.print_table(
        f"Log-mel features, 30 s x {NUM_MELS} mels at {SAMPLING_RATE} Hz "
        f"({settings['clips']} clips x {settings['repeats']} repeats, batch "
        f"{settings['batch_size']}):",
        ("side", "audio s/s", "seconds", "audio s"),
        rows,
    )
    print(
        f"  ours / fastest peer ({summary['fastest_peer']}): "
        f"{summary['ours_over_fastest_peer']:.2f}x"
    )
    for pair, difference in summary["max_abs_difference"].items():
        print(f"  max |difference| {pair}: {difference:.2e}")


def synthetic_clips(count, seed=0):
    """Speech-like float32 waveforms of 5 to 30 s: voiced harmonics whose
    pitch and loudness drift syllable by syllable, over a little noise."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(count):
        samples = int(rng.uniform(SHORTEST_CLIP_SECONDS, WINDOW_SECONDS) * SAMPLING_RATE)
        time_s = np.arange(samples) / SAMPLING_RATE
        pitch = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 3) * time_s))
        phase = 2 * np.pi * np.cumsum(pitch) / SAMPLING_RATE
        voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
        syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * time_s), 0, None)
        noise = rng.normal(0, 0.01, samples)
        clips.append((0.1 * voiced * syllables + noise).astype(np.float32))
    return clips


def measure_ours(settings):
    """Our training pipeline's features stage, delivered by tf.data."""
    from whisper.utils.quiet_import import import_tensorflow_quietly

    tf = import_tensorflow_quietly()
    from data_pipelines.featurizer import Featurizer
    from whisper import WhisperAudioConverter

    clips = synthetic_clips(settings["clips"])
    featurizer = Featurizer(
        WhisperAudioConverter(),
        max_audio_seconds=WINDOW_SECONDS,
        clip_length_windows=False,
        min_window_seconds=0,
    )
    waveforms = tf.RaggedTensor.from_row_lengths(
        np.concatenate(clips), [len(clip) for clip in clips]
    )
    examples = tf.data.Dataset.from_tensor_slices({"waveform": waveforms}).map(
        featurizer.featurize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    batches = featurizer.batch(
        examples, settings["batch_size"], padding_values=None, drop_remainder=False
    ).prefetch(tf.data.AUTOTUNE)

    def convert_all():
        return [batch["encoder_features"].numpy() for batch in batches]

    return _timed(convert_all, clips, settings)


def measure_keras_hub(settings):
    """keras_hub's converter on ragged batches, as its preprocessors call it."""
    import keras_hub
    import tensorflow as tf

    clips = synthetic_clips(settings["clips"])
    converter = keras_hub.layers.WhisperAudioConverter()
    batches = [
        tf.ragged.constant(batch, dtype=tf.float32)
        for batch in _in_batches(clips, settings["batch_size"])
    ]

    def convert_all():
        return [np.asarray(converter(batch)) for batch in batches]

    return _timed(convert_all, clips, settings)


def measure_transformers(settings):
    """transformers' NumPy feature extractor on lists of waveforms."""
    from transformers import WhisperFeatureExtractor

    clips = synthetic_clips(settings["clips"])
    extractor = WhisperFeatureExtractor(feature_size=NUM_MELS)

    def convert_all():
        # (batch, mels, frames), transposed (a view) to the others' layout.
        return [
            extractor(batch, sampling_rate=SAMPLING_RATE, return_tensors="np")[
                "input_features"
            ].transpose(0, 2, 1)
            for batch in _in_batches(clips, settings["batch_size"])
        ]

    return _timed(convert_all, clips, settings)


def _timed(convert_all, clips, settings):
    """Times `repeats` conversions of every clip after one to warm up, and
    saves the first clips' features, (clips, frames, mels), to `features_path`."""
    warm_up = np.concatenate(convert_all())
    np.save(settings["features_path"], warm_up[:COMPARED_CLIPS])
    start = time.perf_counter()
    for _ in range(settings["repeats"]):
        convert_all()
    seconds = time.perf_counter() - start
    audio_seconds = settings["repeats"] * sum(len(clip) for clip in clips) / SAMPLING_RATE
    return {
        "audio_seconds": audio_seconds,
        "seconds": seconds,
        "audio_seconds_per_second": audio_seconds / seconds,
        "peak_memory_bytes": peer_process.peak_memory_bytes(),
    }


def _in_batches(items, batch_size):
    return [items[start : start + batch_size] for start in range(0, len(items), batch_size)]


if __name__ == "__main__":
    main()
