"""What resuming a training run costs in its input pipeline.

    python -m benchmarks.resume_cost [--steps 100000] [--batch-size 16]

The peer is replay, how this project resumed before: rebuild the pipeline
and read, decode and featurize every batch the run had consumed. Ours
places the pipeline at the record-level `StreamState` a checkpoint holds
and decodes nothing before it. Both run on the default training data (the
synthetic corpus, 1,024 utterances, clip-length windows) with the real
tiny.en tokenizer. Replay is timed over `--replay-batches` batches and its
cost at `--steps` extrapolated linearly (it reads every batch alike); ours
is timed at `--steps` itself, to the first batch.
"""

import argparse
import time

from benchmarks import report
from whisper.utils.quiet_import import import_tensorflow_quietly


def main():
    args = parse_arguments()
    # Before the modules that import TensorFlow, to keep its start-up lines
    # out of the table.
    import_tensorflow_quietly()
    from data_pipelines.pipeline import build_dataset
    from data_pipelines.record_log import RecordLog
    from data_pipelines.source_factory import build_source
    from data_pipelines.stream_position import StreamState
    from train.config import compose_train_config
    from train.data import pipeline_arguments
    from whisper import WhisperAudioConverter
    from whisper import WhisperTokenizer

    config = compose_train_config()
    source = build_source(config.data.source, **config.data.train)
    tokenizer = WhisperTokenizer.from_preset("tiny_en")
    converter = WhisperAudioConverter(pad_to_max_audio_length=not config.data.clip_length_windows)

    def pipeline(stream_state=None):
        return build_dataset(
            source,
            tokenizer,
            converter,
            batch_size=args.batch_size,
            seed=config.seed,
            language=config.model.language,
            task=config.model.task,
            **pipeline_arguments(config.data, build_dataset),
            record_log=RecordLog(),
            stream_state=stream_state,
        )

    replay_per_batch = seconds_per_batch(pipeline(), args.replay_batches)
    state = StreamState(batches=args.steps, next_position=args.steps * args.batch_size)
    start = time.perf_counter()
    next(iter(pipeline(state)))
    ours = time.perf_counter() - start
    fresh_start = time.perf_counter()
    next(iter(pipeline()))
    fresh = time.perf_counter() - fresh_start
    results = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "first_batch_of_a_new_run_seconds": fresh,
        "ours_resume_seconds": ours,
        "replay_seconds_per_batch": replay_per_batch,
        "replay_resume_seconds": replay_per_batch * args.steps,
        "speedup": replay_per_batch * args.steps / ours,
    }
    print_table(results)
    report.write_results(args.output, "benchmarks.resume_cost", vars(args), results)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--replay-batches", type=int, default=20)
    report.add_output_argument(parser, "resume_cost")
    return parser.parse_args()


def seconds_per_batch(dataset, count):
    iterator = iter(dataset)
    next(iterator)  # Start-up (tracing, buffers) is not replay's cost.
    start = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return (time.perf_counter() - start) / count


def print_table(results):
    rows = [
        ("replay (peer, extrapolated)", results["replay_resume_seconds"]),
        ("record-level state (ours)", results["ours_resume_seconds"]),
        ("a new run, for reference", results["first_batch_of_a_new_run_seconds"]),
    ]
    print(f"Resuming at step {results['steps']:,} (batch {results['batch_size']}):")
    for name, seconds in rows:
        print(f"  {name:<30} {seconds:>12,.2f} s")
    print(f"  speedup {results['speedup']:,.0f}x")


if __name__ == "__main__":
    main()
