"""The tf.data pipeline: batches, targets, skipped examples, sharding,
determinism, SpecAugment, length buckets and resuming."""

import dataclasses
import threading
import types

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from pipeline_settings import pipeline_settings

from data_pipelines.example_filter import ExampleFilter
from data_pipelines.example_filter import SkippedExample
from data_pipelines.pipeline import NoUsableExamplesError
from data_pipelines.pipeline import build_dataset
from data_pipelines.pipeline import build_eval_examples
from data_pipelines.record_log import RecordLog
from data_pipelines.shard_records import ShardRecords
from data_pipelines.skip_counter import SkipCounter
from data_pipelines.spec_augment import SpecAugment
from data_pipelines.speech_example import SpeechExample
from data_pipelines.speech_source import SpeechSource
from data_pipelines.speech_source import round_robin
from data_pipelines.stream_position import StreamPosition
from data_pipelines.stream_position import StreamState
from whisper.audio_io import load_audio
from whisper.whisper_audio_converter import WhisperAudioConverter
from whisper.whisper_tokenizer import WhisperTokenizer

RATE = 16000


class ListSource(SpeechSource):
    """A source over a list; shard `i` of `n` holds every `n`-th example."""

    name = "list"

    def __init__(self, examples):
        self._examples_list = list(examples)

    @property
    def num_examples(self):
        return len(self._examples_list)

    def _examples(self, shard_index, num_shards):
        return round_robin(iter(self._examples_list), shard_index, num_shards)


@pytest.fixture(scope="module")
def tokenizer(english_keras_hub_assets):
    return WhisperTokenizer(**english_keras_hub_assets)


@pytest.fixture(scope="module")
def converter():
    return WhisperAudioConverter()


@pytest.fixture(scope="module")
def clip_converter():
    return WhisperAudioConverter(pad_to_max_audio_length=False)


def tone(seconds, frequency=440.0, rate=RATE, amplitude=0.3):
    time = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def tone_examples(durations):
    """In-memory tones, one per duration, each with its own transcript."""
    return [
        SpeechExample(
            id=f"tone-{index}",
            text=f"Tone number {index} lasts {seconds} seconds.",
            audio=tone(seconds, frequency=200.0 + 50 * index),
            sampling_rate=RATE,
        )
        for index, seconds in enumerate(durations)
    ]


def speech_examples(speech_clips):
    return [
        SpeechExample(id=path.rsplit("/", 1)[-1], text=text, path=path)
        for path, text in speech_clips
    ]


def batches(dataset, count=None):
    """A dataset's batches as NumPy `(x, y)` pairs."""
    if count is not None:
        dataset = dataset.take(count)
    return list(dataset.as_numpy_iterator())


def rows(batch_list):
    """Every row of every batch: (features, decoder ids, mask, targets)."""
    for x, y in batch_list:
        for index in range(len(y)):
            yield (
                x["encoder_features"][index],
                x["decoder_token_ids"][index],
                x["decoder_padding_mask"][index],
                y[index],
            )


def row_target_ids(decoder_ids, mask, targets):
    """A row's full training target ids, rebuilt from decoder ids and targets."""
    length = int(mask.sum())
    return (int(decoder_ids[0]), *map(int, targets[:length]))


def texts_by_target_ids(tokenizer, examples):
    return {
        tuple(tokenizer.training_target_ids(example.text)): example.text for example in examples
    }


def seen_texts(tokenizer, examples, batch_list):
    by_ids = texts_by_target_ids(tokenizer, examples)
    return [by_ids[row_target_ids(*row[1:])] for row in rows(batch_list)]


# Batches -------------------------------------------------------------------


def test_30_s_batches_have_the_models_inputs(tokenizer, converter, speech_clips):
    examples = speech_examples(speech_clips)
    dataset = build_dataset(
        ListSource(examples), tokenizer, converter, batch_size=3, **pipeline_settings(build_dataset)
    )
    spec_x, spec_y = dataset.element_spec
    assert spec_x["encoder_features"].shape.as_list() == [3, 3000, 80]
    for x, y in batches(dataset, 3):
        assert set(x) == {
            "encoder_features",
            "decoder_token_ids",
            "decoder_padding_mask",
        }
        assert x["encoder_features"].shape == (3, 3000, 80)
        assert x["encoder_features"].dtype == np.float32
        assert x["decoder_token_ids"].dtype == np.int32
        assert x["decoder_padding_mask"].dtype == np.int32
        assert y.dtype == np.int32
        # Token rows are padded to a multiple of 64.
        assert x["decoder_token_ids"].shape == (3, 64) == y.shape
        assert x["decoder_padding_mask"].shape == (3, 64)


def test_fixed_token_length_gives_static_shapes(tokenizer, converter, speech_clips):
    dataset = build_dataset(
        ListSource(speech_examples(speech_clips)),
        tokenizer,
        converter,
        batch_size=2,
        **pipeline_settings(build_dataset, max_label_tokens=100, label_padding_multiple=100),
    )
    # Every shape known before running, as TPUs need.
    spec_x, spec_y = dataset.element_spec
    assert spec_x["encoder_features"].shape.as_list() == [2, 3000, 80]
    assert spec_x["decoder_token_ids"].shape.as_list() == [2, 100]
    assert spec_x["decoder_padding_mask"].shape.as_list() == [2, 100]
    assert spec_y.shape.as_list() == [2, 100]
    [(x, y)] = batches(dataset, 1)
    assert x["decoder_token_ids"].shape == (2, 100) == y.shape


def test_targets_are_decoder_ids_shifted_by_one(tokenizer, converter, speech_clips):
    examples = speech_examples(speech_clips)
    dataset = build_dataset(
        ListSource(examples),
        tokenizer,
        converter,
        batch_size=4,
        training=False,
        **pipeline_settings(build_dataset),
    )
    expected = texts_by_target_ids(tokenizer, examples)
    seen = []
    for _, decoder_ids, mask, targets in rows(batches(dataset)):
        length = int(mask.sum())
        assert mask.tolist() == [1] * length + [0] * (len(mask) - length)
        # Each decoder position predicts the next token.
        np.testing.assert_array_equal(decoder_ids[1:length], targets[: length - 1])
        assert (decoder_ids[length:] == tokenizer.pad_token_id).all()
        assert (targets[length:] == tokenizer.pad_token_id).all()
        ids = row_target_ids(decoder_ids, mask, targets)
        assert ids in expected  # == tokenizer.training_target_ids(text)
        seen.append(expected[ids])
    assert seen == [example.text for example in examples]


def test_features_are_the_converters_for_the_decoded_audio(
    tokenizer, converter, clip_converter, speech_clips
):
    examples = speech_examples(speech_clips)[:4]
    waveforms = {tuple(tokenizer.training_target_ids(e.text)): load_audio(e.path) for e in examples}
    for audio_converter, clip_mode in ((converter, False), (clip_converter, True)):
        dataset = build_dataset(
            ListSource(examples),
            tokenizer,
            audio_converter,
            batch_size=2,
            training=False,
            **pipeline_settings(build_dataset, clip_length_windows=clip_mode),
        )
        for features, decoder_ids, mask, targets in rows(batches(dataset)):
            waveform = waveforms[row_target_ids(decoder_ids, mask, targets)]
            # Clip-length features are the first frames of the 30 s ones,
            # padded frames included.
            expected = converter(waveform).numpy()[: len(features)]
            np.testing.assert_allclose(features, expected, atol=1e-4)


def test_clip_length_batches_pad_to_two_second_multiples(tokenizer, clip_converter):
    examples = tone_examples([0.5, 1.5, 2.5, 3.0, 5.5, 0.8])
    dataset = build_dataset(
        ListSource(examples),
        tokenizer,
        clip_converter,
        batch_size=2,
        training=False,
        **pipeline_settings(build_dataset, clip_length_windows=True),
    )
    frames = []
    for x, _ in batches(dataset):
        assert x["encoder_features"].shape[2] == 80
        frames.append(x["encoder_features"].shape[1])
    # 0.5, 1.5 and 0.8 s pad to 2 s; 2.5 and 3.0 s to 4 s; 5.5 s to 6 s
    # (a final partial batch, kept when not training).
    assert sorted(frames) == [200, 200, 400, 600]


def test_length_buckets_give_few_shapes(tokenizer, clip_converter):
    durations = np.random.default_rng(0).uniform(0.3, 9.5, size=24).round(2)
    dataset = build_dataset(
        ListSource(tone_examples(durations)),
        tokenizer,
        clip_converter,
        batch_size=4,
        **pipeline_settings(build_dataset, clip_length_windows=True),
    )
    shapes = {(x["encoder_features"].shape, y.shape) for x, y in batches(dataset, 18)}
    # One feature length per 2 s bucket up to 10 s, one token length.
    assert {features[0] for features, _ in shapes} == {4}
    assert {features[1] for features, _ in shapes} <= {200, 400, 600, 800, 1000}
    assert len(shapes) <= 5


def test_fixed_bucket_boundaries(tokenizer, clip_converter):
    durations = [0.5, 1.0, 2.9, 3.5, 6.0, 7.5, 9.0, 9.9]
    dataset = build_dataset(
        ListSource(tone_examples(durations)),
        tokenizer,
        clip_converter,
        batch_size=2,
        training=False,
        bucket_boundaries=[3, 7],
        **pipeline_settings(build_dataset, max_audio_seconds=10, clip_length_windows=True),
    )
    frames = sorted(x["encoder_features"].shape[1] for x, _ in batches(dataset))
    # Boundaries 3 s and 7 s round up to 4 s and 8 s; the last bucket is the
    # 10 s maximum.
    assert frames == [400, 400, 800, 1000]


def test_a_minimum_window_pads_short_clips_to_it_in_training_and_evaluation(
    tokenizer, clip_converter
):
    durations = [0.5, 1.5, 2.5, 3.0, 5.5, 0.8]
    common = dict(max_audio_seconds=10, min_window_seconds=3)
    dataset = build_dataset(
        ListSource(tone_examples(durations)),
        tokenizer,
        clip_converter,
        batch_size=2,
        training=False,
        **pipeline_settings(build_dataset, clip_length_windows=True, **common),
    )
    frames = sorted(x["encoder_features"].shape[1] for x, _ in batches(dataset))
    # The 3 s minimum rounds up to 4 s: the five clips up to 4 s get 4 s (two
    # full batches and a partial one), 5.5 s gets 6 s.
    assert frames == [400, 400, 400, 600]
    held_out = build_eval_examples(
        ListSource(tone_examples(durations)),
        clip_converter,
        **pipeline_settings(build_eval_examples, **common),
    )
    assert [len(features) for _, features, _ in held_out] == [300, 300, 300, 300, 550, 300]


def test_a_minimum_window_needs_clip_length_windows(tokenizer, converter):
    with pytest.raises(ValueError, match="`min_window_seconds` needs `clip_length_windows=True`"):
        build_dataset(
            ListSource(tone_examples([1.0])),
            tokenizer,
            converter,
            batch_size=1,
            **pipeline_settings(build_dataset, min_window_seconds=10),
        )


def test_in_memory_bytes_and_file_audio_agree(tokenizer, clip_converter, tmp_path):
    rng = np.random.default_rng(1)
    stereo = (0.2 * rng.standard_normal((44100, 2))).astype(np.float32)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, stereo, 44100)
    pcm = (stereo * 32767).astype(np.int16)
    sources = [
        SpeechExample(id="file", text="same audio", path=str(path)),
        SpeechExample(id="bytes", text="same audio", audio_bytes=path.read_bytes()),
        SpeechExample(id="floats", text="same audio", audio=stereo, sampling_rate=44100),
        SpeechExample(id="int16", text="same audio", audio=pcm, sampling_rate=44100),
    ]
    features = []
    for example in sources:
        dataset = build_dataset(
            ListSource([example]),
            tokenizer,
            clip_converter,
            batch_size=1,
            training=False,
            **pipeline_settings(build_dataset, clip_length_windows=True),
        )
        [(x, _)] = batches(dataset)
        features.append(x["encoder_features"])
    for other in features[1:]:
        # FLAC stores 16-bit samples, hence the tolerance.
        np.testing.assert_allclose(other, features[0], atol=2e-3)


# Skipped examples ------------------------------------------------------------


@pytest.fixture
def bad_examples(tmp_path):
    """One example for each reason to skip, by reason."""
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all" * 10)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    nan = tmp_path / "nan.wav"
    soundfile.write(nan, np.full(RATE, np.nan, np.float32), RATE, subtype="FLOAT")
    huge = tmp_path / "huge.wav"
    # Finite samples whose power overflows float32.
    soundfile.write(huge, np.full(RATE, 1e30, np.float32), RATE, subtype="FLOAT")
    long_clip = tmp_path / "long.wav"
    soundfile.write(long_clip, tone(3.5), RATE)
    return {
        "unreadable_audio": [SpeechExample(id="garbage", text="garbage", path=str(garbage))],
        "empty_file": [SpeechExample(id="empty-file", text="empty file", path=str(empty))],
        "audio_not_found": [
            SpeechExample(id="missing", text="missing", path=str(tmp_path / "no.wav"))
        ],
        "not_a_file": [SpeechExample(id="folder", text="folder", path=str(tmp_path))],
        "empty_audio": [
            SpeechExample(
                id="no-samples", text="x", audio=np.zeros(0, np.float32), sampling_rate=RATE
            ),
        ],
        "non_finite_audio": [
            SpeechExample(id="nan-file", text="nan file", path=str(nan)),
            SpeechExample(
                id="nan-array",
                text="x",
                audio=np.full(RATE, np.inf, np.float32),
                sampling_rate=RATE,
            ),
        ],
        "non_finite_features": [SpeechExample(id="huge", text="huge", path=str(huge))],
        "too_long": [SpeechExample(id="long", text="long", path=str(long_clip))],
        "too_short": [SpeechExample(id="blip", text="blip", audio=tone(0.05), sampling_rate=RATE)],
        "label_too_long": [
            SpeechExample(id="chatty", text="word " * 40, audio=tone(1.0), sampling_rate=RATE)
        ],
        "empty_text": [SpeechExample(id="silent", text="  ", audio=tone(1.0), sampling_rate=RATE)],
    }


def test_bad_examples_are_skipped_and_counted(tokenizer, clip_converter, bad_examples):
    good = tone_examples([0.6, 1.2, 1.8])
    bad = sum(bad_examples.values(), [])
    mixed = [good[0], *bad[:5], good[1], *bad[5:], good[2]]
    counter = SkipCounter(examples_per_reason=5)
    dataset = build_dataset(
        ListSource(mixed),
        tokenizer,
        clip_converter,
        batch_size=1,
        training=False,
        skip_counter=counter,
        **pipeline_settings(
            build_dataset, max_audio_seconds=3.0, max_label_tokens=20, clip_length_windows=True
        ),
    )
    batch_list = batches(dataset)
    assert seen_texts(tokenizer, good, batch_list) == [e.text for e in good]
    assert all(np.isfinite(x["encoder_features"]).all() for x, _ in batch_list)
    assert counter.counts() == {reason: len(examples) for reason, examples in bad_examples.items()}
    for reason, examples in bad_examples.items():
        # A set: decoding runs in parallel, so the order may vary.
        kept_ids = {example_id for example_id, _ in counter.examples(reason)}
        assert kept_ids == {example.id for example in examples}
    summary = counter.summary()
    assert summary.startswith("Skipped 12 examples: non_finite_audio 2 (")
    assert "garbage: Cannot load audio" in summary
    assert "empty_file 1 (empty-file: Cannot load audio" in summary
    assert "the file is empty" in summary
    assert "long: 3.500 s > 3.0 s" in summary
    decoder_tokens = len(tokenizer.training_target_ids("word " * 40)) - 1
    assert f"chatty: {decoder_tokens} decoder tokens > 20" in summary


def test_a_shard_without_usable_examples_fails_clearly(tokenizer, clip_converter, bad_examples):
    unusable = [
        *bad_examples["unreadable_audio"],
        *bad_examples["empty_file"],
        *bad_examples["audio_not_found"],
        *bad_examples["not_a_file"],
        *bad_examples["too_long"],
    ]
    with pytest.raises(NoUsableExamplesError) as error:
        build_dataset(
            ListSource(unusable),
            tokenizer,
            clip_converter,
            batch_size=2,
            **pipeline_settings(build_dataset, max_audio_seconds=3.0, clip_length_windows=True),
        )
    message = str(error.value)
    assert "No usable examples in <ListSource 'list', 5 examples> (shard 0 of 1)" in (message)
    assert "all 5 were skipped" in message
    assert "unreadable_audio 1 (garbage: Cannot load audio" in message
    assert "audio_not_found 1 (missing: Cannot load audio" in message
    assert "too_long 1 (long: 3.500 s > 3.0 s)" in message

    with pytest.raises(NoUsableExamplesError, match=r"'list', 0 examples>.*none"):
        build_eval_examples(
            ListSource([]), clip_converter, **pipeline_settings(build_eval_examples)
        )


# Sharding, determinism, resuming ----------------------------------------------


def test_shards_are_disjoint_and_cover_the_source(tokenizer, clip_converter):
    examples = tone_examples([0.5 + 0.1 * index for index in range(10)])
    texts = []
    for shard_index in range(2):
        dataset = build_dataset(
            ListSource(examples),
            tokenizer,
            clip_converter,
            batch_size=1,
            shard_index=shard_index,
            num_shards=2,
            training=False,
            **pipeline_settings(build_dataset, clip_length_windows=True),
        )
        texts.append(set(seen_texts(tokenizer, examples, batches(dataset))))
    assert not texts[0] & texts[1]
    assert texts[0] | texts[1] == {example.text for example in examples}


def test_the_order_is_fixed_by_the_seed(tokenizer, clip_converter):
    examples = tone_examples([0.5 + 0.1 * index for index in range(12)])

    def first_texts(seed):
        dataset = build_dataset(
            ListSource(examples),
            tokenizer,
            clip_converter,
            batch_size=2,
            **pipeline_settings(build_dataset, seed=seed, clip_length_windows=True),
        )
        # 18 rows: one and a half passes, so a reshuffled second pass shows.
        return seen_texts(tokenizer, examples, batches(dataset, 9))

    first = first_texts(seed=0)
    assert first == first_texts(seed=0)
    assert first != first_texts(seed=1)
    # TensorFlow's global seed, which a resumed run may set otherwise, plays
    # no part.
    tf.random.set_seed(1234)
    try:
        assert first == first_texts(seed=0)
    finally:
        tf.random.set_seed(None)
    assert first[:12] != [example.text for example in examples]
    assert sorted(first[:12]) == sorted(example.text for example in examples)


@pytest.mark.parametrize("windows", ["clip_length", "30_s", "packed"])
def test_resuming_from_a_stream_state_gives_the_same_batches(
    tokenizer, clip_converter, converter, windows
):
    # Buckets of several lengths (records wait in them), a clip too short
    # and one without text (dropped), and more batches than one pass holds.
    durations = [0.4, 0.05, 3.1, 5.5, 1.0, 2.2, 0.8, 4.4, 0.6, 3.7, 1.9, 5.0, 0.7, 2.6]
    examples = tone_examples(durations)
    examples[5] = dataclasses.replace(examples[5], text="")

    def dataset(record_log, stream_state=None):
        return build_dataset(
            ListSource(examples),
            tokenizer,
            clip_converter if windows == "clip_length" else converter,
            batch_size=2,
            record_log=record_log,
            stream_state=stream_state,
            **pipeline_settings(
                build_dataset,
                seed=3,
                clip_length_windows=windows == "clip_length",
                packing=windows == "packed",
                spec_augment=True,
                shuffle_buffer=4,
            ),
        )

    log = RecordLog()
    uninterrupted = batches(dataset(log), 16)
    stream = StreamPosition(log)
    for _, _, positions in uninterrupted[:11]:
        stream.consume(positions)
    state = stream.state()
    assert state.batches == 11 and state.next_position > len(examples)
    if windows == "clip_length":
        assert state.pending  # Some records wait in their buckets.

    resumed = batches(dataset(RecordLog(), StreamState.from_json(state.to_json())), 5)
    for (x, y, positions), (x_resumed, y_resumed, resumed_positions) in zip(
        uninterrupted[11:], resumed
    ):
        np.testing.assert_array_equal(positions, resumed_positions)
        np.testing.assert_array_equal(y, y_resumed)
        for key in x:
            np.testing.assert_array_equal(x[key], x_resumed[key])


def test_a_resumed_stream_makes_no_record_of_what_it_skips(tokenizer, converter, monkeypatch):
    # Records are what the pipeline decodes: a resume may list the skipped
    # examples, never turn one into a record (read, decode or resample it).
    examples = tone_examples([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    made = []
    original_records = ShardRecords.records

    def logged_records(self, *args, **kwargs):
        for record in original_records(self, *args, **kwargs):
            made.append(record["position"])
            yield record

    monkeypatch.setattr(ShardRecords, "records", logged_records)
    state = StreamState(batches=20, next_position=40, pending=(37,))
    dataset = build_dataset(
        ListSource(examples),
        tokenizer,
        converter,
        batch_size=2,
        record_log=RecordLog(),
        stream_state=state,
        **pipeline_settings(build_dataset, seed=3, shuffle_buffer=4),
    )
    (_, _, positions), *_ = batches(dataset, 2)
    assert list(positions) == [37, 40]
    assert made and min(made) == 37 and all(p >= 40 for p in made[1:]), made


# Packing -------------------------------------------------------------------


def packed_dataset(examples, tokenizer, converter, **kwargs):
    arguments = dict(batch_size=2, training=False, record_log=RecordLog())
    settings = pipeline_settings(build_dataset, packing=True)
    return build_dataset(
        ListSource(examples), tokenizer, converter, **(arguments | settings | kwargs)
    )


def test_packing_fills_30_s_windows_in_order_with_joined_transcripts(tokenizer, converter):
    durations = [2.0, 7.5, 3.2, 8.0, 5.1, 6.4, 2.7, 4.0, 7.9, 3.3, 6.0, 2.2, 5.5]
    examples = tone_examples(durations)
    batch_list = batches(packed_dataset(examples, tokenizer, converter))
    members = [
        [int(p) for p in row if p >= 0] for _, _, positions in batch_list for row in positions
    ]
    # Every example once, in stream order, each window as full as greedy
    # filling makes it: at most 30 s, and the next clip would not fit.
    assert sum(members, []) == list(range(len(examples)))
    for pack, next_pack in zip(members, members[1:] + [None]):
        seconds = sum(durations[p] for p in pack)
        assert seconds <= 30.0
        if next_pack:
            assert seconds + durations[next_pack[0]] > 30.0
    assert max(len(pack) for pack in members) >= 5
    rows_ = [row for x, y, _ in batch_list for row in rows([(x, y)])]
    for pack, (features, decoder_ids, mask, targets) in zip(members, rows_):
        joined_text = " ".join(examples[p].text for p in pack)
        # The joined target is the tokenizer's for the joined transcripts.
        assert row_target_ids(decoder_ids, mask, targets) == tuple(
            tokenizer.training_target_ids(joined_text)
        )
        audio = np.concatenate([examples[p].audio for p in pack])
        np.testing.assert_allclose(features, converter(audio).numpy(), atol=1e-5)


def test_packs_end_where_the_decoder_would_overflow(tokenizer, converter):
    examples = tone_examples([2.0] * 6)
    decoder_tokens = len(tokenizer.training_target_ids(examples[0].text)) - 1
    text_tokens = decoder_tokens - len(tokenizer.decoder_prompt_ids())
    # Room for two texts, not three: windows are cut by tokens, not seconds.
    max_label_tokens = decoder_tokens + text_tokens
    dataset = packed_dataset(examples, tokenizer, converter, max_label_tokens=max_label_tokens)
    positions = np.concatenate([p for _, _, p in batches(dataset)])
    np.testing.assert_array_equal(positions, [[0, 1], [2, 3], [4, 5]])


def test_a_pack_whose_features_overflow_is_dropped_and_its_members_counted(
    tokenizer, converter, bad_examples
):
    (huge,) = bad_examples["non_finite_features"]
    good = tone_examples([12.0, 12.0, 12.0, 12.0])
    log = RecordLog()
    dataset = packed_dataset(
        [good[0], huge, good[1], good[2], good[3]], tokenizer, converter, record_log=log
    )
    ((x, _, positions),) = batches(dataset)
    # 12 + 1 + 12 s, then 12 + 12 s.
    np.testing.assert_array_equal(positions, [[3, 4]])
    assert np.isfinite(x["encoder_features"]).all()
    # Counted once the stream is consumed past them.
    stream = StreamPosition(log)
    stream.consume(positions)
    counter = stream.skipped
    assert counter.counts() == {"non_finite_features": 3}
    assert {example_id for example_id, _ in counter.examples("non_finite_features")} == {
        "tone-0",
        "huge",
        "tone-1",
    }


def test_packing_needs_30_s_windows(tokenizer, clip_converter):
    with pytest.raises(ValueError, match="packing=True. fills 30 s windows"):
        packed_dataset(tone_examples([1.0]), tokenizer, clip_converter, clip_length_windows=True)


def test_stream_positions_of_packed_batches_skip_the_padding():
    log = RecordLog()
    for position in range(7):
        log.add(position, f"clip-{position}")
    log.drop(5, "too_long", "clip-5", "31 s > 30 s")
    stream = StreamPosition(log)
    stream.consume(np.array([[0, 1, 2], [3, -1, -1]]))
    assert stream.skipped.total == 0
    stream.consume(np.array([[4, -1], [6, -1]]))
    assert stream.state() == StreamState(batches=2, next_position=7, pending=())
    assert log.ids(np.array([[4, -1], [6, -1]])) == ["clip-4", "clip-6"]
    assert stream.skipped.examples("too_long") == [("clip-5", "31 s > 30 s")]


def test_only_skips_the_consumed_stream_passed_are_counted(tokenizer, clip_converter):
    # 12 good clips and 4 too long ones, repeated: the pipeline reads ahead
    # of the two batches consumed, and finds the bad ones again and again.
    examples = tone_examples([1.0] * 12 + [31.0] * 4)
    read_ahead, log = SkipCounter(), RecordLog()
    dataset = build_dataset(
        ListSource(examples),
        tokenizer,
        clip_converter,
        batch_size=4,
        training=True,
        skip_counter=read_ahead,
        record_log=log,
        **pipeline_settings(build_dataset, clip_length_windows=True),
    )
    stream = StreamPosition(log)
    for _, _, positions in batches(dataset, 2):
        stream.consume(positions)
    state = stream.state()
    # Every record up to the last consumed is in a batch, pending or skipped.
    assert stream.skipped.total == state.next_position - 8 - len(state.pending)
    assert stream.skipped.total <= 4
    assert read_ahead.total == 0  # With a record log, nothing is counted ahead.


# SpecAugment ---------------------------------------------------------------


def test_spec_augment_masks_training_batches_only(tokenizer, clip_converter):
    examples = tone_examples([1.0, 1.5, 2.5, 3.5])

    def features(training, spec_augment, seed=0):
        dataset = build_dataset(
            ListSource(examples),
            tokenizer,
            clip_converter,
            batch_size=2,
            training=training,
            **pipeline_settings(
                build_dataset, seed=seed, clip_length_windows=True, spec_augment=spec_augment
            ),
        )
        return [x["encoder_features"] for x, _ in batches(dataset, 2)]

    plain = features(training=True, spec_augment=None)
    masked = features(training=True, spec_augment=True)
    for before, after in zip(plain, masked):
        assert before.shape == after.shape
        changed = before != after
        assert changed.any()
        # Whole mel bands (frequency masks) are set to one value per row.
        for row in range(len(after)):
            bands = changed[row].all(axis=0)
            assert bands.any()
            assert len(np.unique(after[row][:, bands])) == 1
    for again, first in zip(features(training=True, spec_augment=True), masked):
        np.testing.assert_array_equal(again, first)
    evaluation = features(training=False, spec_augment=True)
    unmasked = features(training=False, spec_augment=None)
    for with_option, without in zip(evaluation, unmasked):
        np.testing.assert_array_equal(with_option, without)


def test_spec_augment_time_masks_stay_in_real_frames():
    augment = SpecAugment(num_frequency_masks=0, num_time_masks=3, max_time_mask_fraction=1.0)
    features = tf.random.stateless_normal((8, 300, 80), seed=[1, 2])
    num_frames = tf.constant([300, 250, 200, 150, 100, 50, 10, 1])
    for step in range(5):
        masked = augment(features, num_frames, seed=tf.constant([4, step])).numpy()
        changed = (masked != features.numpy()).any(axis=2)
        for row, frames in enumerate(num_frames.numpy()):
            assert not changed[row, frames:].any()
    different = augment(features, num_frames, seed=tf.constant([5, 0])).numpy()
    assert not np.array_equal(different, masked)


@pytest.mark.parametrize(
    "arguments",
    [{"num_time_masks": -1}, {"max_frequency_mask_width": 2.5}, {"max_time_mask_fraction": 1.5}],
)
def test_spec_augment_rejects_bad_arguments(arguments):
    with pytest.raises(ValueError, match=next(iter(arguments))):
        SpecAugment(**arguments)


# Evaluation set ---------------------------------------------------------------


def test_eval_examples_are_features_texts_and_ids(converter, speech_clips, tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio")
    examples = speech_examples(speech_clips)
    examples.insert(1, SpeechExample(id="garbage", text="garbage", path=str(garbage)))
    counter = SkipCounter()
    evaluation = build_eval_examples(
        ListSource(examples),
        converter,
        max_examples=5,
        skip_counter=counter,
        **pipeline_settings(build_eval_examples),
    )
    assert [example_id for example_id, _, _ in evaluation] == [
        e.id for e in examples if e.id != "garbage"
    ][:5]
    for example_id, features, text in evaluation:
        assert features.shape == (3000, 80) and features.dtype == np.float32
        assert text == next(e.text for e in examples if e.id == example_id)
    first_path = examples[0].path
    np.testing.assert_allclose(
        evaluation[0][1], converter(load_audio(first_path)).numpy(), atol=1e-5
    )
    assert counter.counts() == {"unreadable_audio": 1}


# Arguments -----------------------------------------------------------------


def test_arguments_are_checked(tokenizer, converter, clip_converter):
    source = ListSource(tone_examples([1.0]))
    with pytest.raises(ValueError, match="pad_to_max_audio_length=False"):
        build_dataset(
            source,
            tokenizer,
            converter,
            batch_size=1,
            **pipeline_settings(build_dataset, clip_length_windows=True),
        )
    with pytest.raises(ValueError, match="max_audio_length"):
        build_dataset(
            source,
            tokenizer,
            converter,
            batch_size=1,
            **pipeline_settings(build_dataset, max_audio_seconds=40),
        )
    with pytest.raises(ValueError, match="clip_length_windows=True"):
        build_dataset(
            source,
            tokenizer,
            converter,
            batch_size=1,
            bucket_boundaries=[5],
            **pipeline_settings(build_dataset),
        )
    with pytest.raises(ValueError, match="Shard 2 of 2 does not exist"):
        build_dataset(
            source,
            tokenizer,
            converter,
            batch_size=1,
            shard_index=2,
            num_shards=2,
            **pipeline_settings(build_dataset),
        )
    with pytest.raises(ValueError, match="batch_size"):
        build_dataset(
            source, tokenizer, converter, batch_size=0, **pipeline_settings(build_dataset)
        )
    with pytest.raises(ValueError, match="Unknown task"):
        build_dataset(
            source,
            tokenizer,
            converter,
            batch_size=1,
            **pipeline_settings(build_dataset, task="summarize"),
        )


def test_example_filter_names_what_is_wrong():
    example_filter = ExampleFilter(
        None, **pipeline_settings(ExampleFilter, min_audio_seconds=0.5, max_audio_seconds=2)
    )
    stereo = np.zeros((RATE, 2), np.float32)
    assert example_filter.waveform("ok", stereo, RATE, "", b"").shape == (RATE,)
    with pytest.raises(SkippedExample) as skipped:
        example_filter.waveform("short", stereo[:100], RATE, "", b"")
    assert (skipped.value.reason, skipped.value.detail) == ("too_short", "0.006 s < 0.5 s")
    with pytest.raises(SkippedExample, match="empty_text"):
        example_filter.target(types.SimpleNamespace(text=None))


# SkipCounter -----------------------------------------------------------------


def test_skip_counter_counts_from_many_threads():
    counter = SkipCounter(examples_per_reason=2)

    def skip_many(thread):
        for index in range(500):
            counter.skip("too_long", f"clip-{index % 3}", "31 s > 30 s")
            counter.skip("empty_text", f"text-{thread}")

    threads = [threading.Thread(target=skip_many, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.counts() == {"too_long": 2000, "empty_text": 2000}
    assert counter.total == 4000
    # Distinct ids only, at most two per reason.
    assert counter.examples("too_long") == [("clip-0", "31 s > 30 s"), ("clip-1", "31 s > 30 s")]
    assert len(counter.examples("empty_text")) == 2
    assert counter.summary().startswith(
        "Skipped 4000 examples: too_long 2000 (clip-0: 31 s > 30 s; clip-1: "
    )
    assert SkipCounter().summary() == "No examples were skipped."
