"""SpeechExample records, shard arguments and the source factory."""

import numpy as np
import pytest

import data_pipelines
from data_pipelines import SpeechExample
from data_pipelines import build_source
from data_pipelines.speech_source import check_shard


def test_each_way_of_holding_audio():
    tone = np.zeros(160, np.float32)
    assert SpeechExample("a", "x", audio=tone, sampling_rate=16000).audio_kind == "audio"
    assert (
        SpeechExample("b", "x", audio=np.zeros((160, 2), np.int16), sampling_rate=8000).audio_kind
        == "audio"
    )
    assert SpeechExample("c", "x", path="/clips/c.flac").audio_kind == "path"
    assert SpeechExample("d", "x", audio_bytes=b"RIFF").audio_kind == "audio_bytes"


@pytest.mark.parametrize(
    "fields, error, message",
    [
        ({}, ValueError, r"'e' needs exactly one of .*; got none of them"),
        ({"path": "a.wav", "audio_bytes": b"x"}, ValueError, r"got path, audio_bytes"),
        (
            {"audio": np.zeros(4, np.float32)},
            ValueError,
            r"needs its `sampling_rate` as a positive int of Hz, got None",
        ),
        ({"audio": np.zeros(4, np.float32), "sampling_rate": 16000.0}, ValueError, r"got 16000\.0"),
        (
            {"audio": np.zeros((2, 2, 2)), "sampling_rate": 16000},
            ValueError,
            r"shape \(samples,\) or \(samples, channels\), got ndarray of shape \(2, 2, 2\)",
        ),
        ({"audio": [0.0, 0.1], "sampling_rate": 16000}, ValueError, r"got list of shape \(2,\)"),
        ({"audio": np.zeros(4, np.int64), "sampling_rate": 16000}, TypeError, r"got dtype int64"),
        (
            {"path": "a.wav", "sampling_rate": 16000},
            ValueError,
            r"`sampling_rate` belongs to in-memory `audio`",
        ),
    ],
)
def test_invalid_records_are_refused(fields, error, message):
    with pytest.raises(error, match=message):
        SpeechExample("e", "text", **fields)


def test_text_must_be_a_string():
    with pytest.raises(TypeError, match=r"`text` must be a str, got bytes b'hi'"):
        SpeechExample("e", b"hi", path="a.wav")


def test_records_are_frozen():
    example = SpeechExample("e", "text", path="a.wav")
    with pytest.raises(AttributeError):
        example.text = "other"


@pytest.mark.parametrize(
    "shard_index, num_shards, error",
    [
        (0, 0, ValueError),
        (2, 2, ValueError),
        (-1, 2, ValueError),
        (0.0, 1, TypeError),
        (True, 2, TypeError),
    ],
)
def test_bad_shards_are_refused(shard_index, num_shards, error):
    with pytest.raises(error):
        check_shard(shard_index, num_shards)


def test_build_source_by_kind(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "a.wav", "text": "a"}\n')
    assert isinstance(build_source("manifest", path=str(manifest)), data_pipelines.ManifestSource)
    synthetic = build_source("synthetic", split="eval", num_eval=2, cache_dir=str(tmp_path))
    assert isinstance(synthetic, data_pipelines.SyntheticSpeechSource)
    assert len(synthetic) == 2
    assert set(data_pipelines.SOURCE_KINDS) == {"manifest", "hf_datasets", "tfds", "synthetic"}


def test_unknown_kind_lists_the_allowed_kinds():
    with pytest.raises(
        ValueError,
        match=(
            r"Unknown data source kind 'csv'; "
            r"allowed: 'manifest', 'hf_datasets', 'tfds', 'synthetic'\."
        ),
    ):
        build_source("csv", path="x.csv")
