"""The run's data: a distributed training dataset and the held-out examples."""

import dataclasses

import tensorflow as tf

from data_pipelines.pipeline import build_dataset
from data_pipelines.pipeline import build_eval_examples
from data_pipelines.skip_counter import SkipCounter
from data_pipelines.source_factory import build_source


@dataclasses.dataclass
class RunData:
    train: tf.distribute.DistributedDataset
    eval_examples: list
    skipped: SkipCounter


def build_run_data(data_config, model, strategy, *, global_batch_size, seed, skip_steps):
    """Shards the training source per input pipeline and builds held-out examples.

    Features come from the model's own audio converter, so training,
    evaluation and the exported preset see the same ones.

    `skip_steps` optimizer steps already consumed (a resumed run) are skipped
    so that the run sees the batches an uninterrupted one would.
    """
    converter = model.audio_converter
    skipped = SkipCounter()
    train_source = build_source(data_config.source, **data_config.train)
    eval_source = build_source(data_config.source, **data_config.eval)
    per_replica_batch = global_batch_size // strategy.num_replicas_in_sync

    def dataset_fn(input_context):
        batches_per_step = strategy.num_replicas_in_sync // input_context.num_input_pipelines
        return build_dataset(
            train_source,
            model.tokenizer,
            converter,
            batch_size=per_replica_batch,
            shard_index=input_context.input_pipeline_id,
            num_shards=input_context.num_input_pipelines,
            training=True,
            seed=seed,
            language=model.language,
            task=model.task,
            min_audio_seconds=data_config.min_audio_seconds,
            max_audio_seconds=data_config.max_audio_seconds,
            max_label_tokens=data_config.max_label_tokens,
            clip_length_windows=data_config.clip_length_windows,
            spec_augment=data_config.spec_augment,
            shuffle_buffer=data_config.shuffle_buffer,
            skip_batches=skip_steps * batches_per_step,
            skip_counter=skipped,
        )

    train = strategy.distribute_datasets_from_function(dataset_fn)
    eval_examples = build_eval_examples(
        eval_source,
        converter,
        min_audio_seconds=data_config.min_audio_seconds,
        max_audio_seconds=data_config.max_audio_seconds,
        max_examples=data_config.max_eval_examples,
        skip_counter=skipped,
    )
    return RunData(train, eval_examples, skipped)
