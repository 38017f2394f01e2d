"""The run's data: a distributed training dataset and the held-out examples."""

import dataclasses
import inspect

import numpy as np

from data_pipelines.pipeline import NoUsableExamplesError
from data_pipelines.pipeline import build_dataset
from data_pipelines.pipeline import build_eval_examples
from data_pipelines.record_log import RecordLog
from data_pipelines.skip_counter import SkipCounter
from data_pipelines.source_factory import build_source
from data_pipelines.stream_position import StreamPosition
from data_pipelines.stream_position import StreamState
from train.config_errors import blame
from train.strategy import gather_from_workers


class RunData:
    """The distributed training batches, the held-out set and the skip counts.

    The training loop hands every batch it trains on to `consume`, which
    follows this worker's input pipeline in its record stream;
    `stream_states` gives every worker's, for a checkpoint to resume from.
    """

    def __init__(self, train, eval_examples, skipped, strategy, pipeline_id, stream):
        self.train = train
        self.eval_examples = eval_examples
        self.skipped = skipped
        self.strategy = strategy
        self.pipeline_id = pipeline_id
        self.stream = stream

    def consume(self, batch):
        for positions in self._local_positions(batch):
            self.stream.consume(positions)

    def example_ids(self, batch):
        """The ids of this worker's examples in a distributed batch (for messages)."""
        return [
            example_id
            for positions in self._local_positions(batch)
            for example_id in self.stream.record_log.ids(positions)
        ]

    def stream_states(self):
        """{input pipeline id: its `StreamState` as JSON} of every worker.

        A collective under several workers: every worker must call it.
        """
        row = encode_stream_state(self.pipeline_id, self.stream.state())
        rows = gather_from_workers(self.strategy, row)
        return {str(row[0]): decode_stream_state(row).to_json() for row in rows}

    def _local_positions(self, batch):
        # Local replicas take this pipeline's batches in the order it made
        # them, which their last positions give.
        batches = [p.numpy() for p in self.strategy.experimental_local_results(batch[2])]
        return sorted(batches, key=np.max)


# A stream state as one int64 row, for collectives: pipeline id, batches,
# next position, pending count, then the pending positions and padding.
STATE_HEADER = 4
MAX_PENDING = 4096


def encode_stream_state(pipeline_id, state):
    if len(state.pending) > MAX_PENDING:
        raise ValueError(f"{len(state.pending)} pending records exceed {MAX_PENDING}.")
    header = [pipeline_id, state.batches, state.next_position, len(state.pending)]
    row = np.full(STATE_HEADER + MAX_PENDING, -1, np.int64)
    row[: STATE_HEADER + len(state.pending)] = header + list(state.pending)
    return row


def decode_stream_state(row):
    _, batches, next_position, count = (int(value) for value in row[:STATE_HEADER])
    pending = tuple(int(p) for p in row[STATE_HEADER : STATE_HEADER + count])
    return StreamState(batches, next_position, pending)


@dataclasses.dataclass(frozen=True)
class Sources:
    train: object
    eval: object


def build_sources(data_config):
    """The train and eval sources; a bad source argument names its key."""
    built = {}
    for split in ("train", "eval"):
        with blame(f"data.{split}", OSError, TypeError, ValueError):
            built[split] = build_source(data_config.source, **data_config[split])
    return Sources(**built)


def build_run_data(
    data_config, sources, model, strategy, *, global_batch_size, seed, stream_states=None
):
    """Shards the training source per input pipeline and builds held-out examples.

    Features come from the model's own audio converter, so training,
    evaluation and the exported preset see the same ones. With
    `data.features_in_step` the training batches carry waveforms that the
    trainer converts in its compiled step; the held-out set keeps features
    made here, once per run, which equal those within 1e-5.

    `stream_states` ({pipeline id: `StreamState` JSON}, from
    `RunData.stream_states` in a checkpoint) resumes each pipeline where
    it stopped, without decoding what it had read, so that the run sees the
    batches an uninterrupted one would.
    """
    converter = model.audio_converter
    skipped = SkipCounter()
    # One input pipeline per worker process, hence one log and one stream.
    streams = []
    per_replica_batch = global_batch_size // strategy.num_replicas_in_sync

    def dataset_fn(input_context):
        pipeline_id = input_context.input_pipeline_id
        state = resumed_state(stream_states, pipeline_id)
        stream = StreamPosition(RecordLog(), state, skipped)
        streams.append((pipeline_id, stream))
        return build_dataset(
            sources.train,
            model.tokenizer,
            converter,
            batch_size=per_replica_batch,
            shard_index=input_context.input_pipeline_id,
            num_shards=input_context.num_input_pipelines,
            training=True,
            seed=seed,
            language=model.language,
            task=model.task,
            **pipeline_arguments(data_config, build_dataset),
            skip_counter=skipped,
            record_log=stream.record_log,
            stream_state=state,
        )

    with blame("data.train", NoUsableExamplesError):
        train = strategy.distribute_datasets_from_function(dataset_fn)
    with blame("data.eval", NoUsableExamplesError):
        eval_examples = build_eval_examples(
            sources.eval,
            converter,
            **pipeline_arguments(data_config, build_eval_examples),
            max_examples=data_config.max_eval_examples,
            skip_counter=skipped,
        )
    ((pipeline_id, stream),) = streams
    return RunData(train, eval_examples, skipped, strategy, pipeline_id, stream)


def pipeline_arguments(data_config, function):
    """The `data` config's values that `function` takes, by name.

    `function` is one of the input pipeline's (`build_dataset`,
    `build_eval_examples`, `TargetBuilder`, `ExampleFilter`, `Featurizer`),
    whose keyword-only parameters named after `data` keys take those keys'
    values and have no default of their own: the config holds them once.
    The run's `seed`, `model.language` and `model.task` are the caller's
    to pass.
    """
    parameters = inspect.signature(function).parameters.values()
    return {
        parameter.name: data_config[parameter.name]
        for parameter in parameters
        if parameter.kind is parameter.KEYWORD_ONLY and parameter.name in data_config
    }


def resumed_state(stream_states, pipeline_id):
    """The checkpoint's state of this input pipeline; a fresh one for a new run."""
    if stream_states is None:
        return StreamState()
    if str(pipeline_id) not in stream_states:
        raise ValueError(
            f"The checkpoint holds the data positions of input pipelines "
            f"{sorted(stream_states)}, not of this one ({pipeline_id}): resume with "
            "the number of workers the run started with."
        )
    return StreamState.from_json(stream_states[str(pipeline_id)])
