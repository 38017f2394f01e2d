"""TFDSSource on a TFDS dataset prepared here from real audio files."""

import os

import numpy as np
import pytest
from source_checks import assert_shards_partition
from speech_datasets import pcm16
from speech_datasets import prepare_tfds_dataset

from data_pipelines.speech_source import DatasetUnavailableError
from data_pipelines.tfds_source import TFDSSource
from whisper import audio_io


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, speech_clips):
    speech_dir = os.path.dirname(speech_clips[0][0])
    return prepare_tfds_dataset(tmp_path_factory.mktemp("tfds"), speech_dir)


def test_prepared_dataset_round_trip(data_dir, speech_clips):
    source = TFDSSource("tiny_speech_clips", split="train", data_dir=data_dir)
    examples = {example.id: example for example in source.examples()}
    assert len(source) == len(examples) == 6
    for path, text in speech_clips[:6]:
        example = examples[os.path.splitext(os.path.basename(path))[0]]
        assert example.text == text
        assert example.sampling_rate == 16000
        assert example.audio.dtype == np.int16
        np.testing.assert_array_equal(example.audio, pcm16(audio_io.load_audio(path)))


def test_split_slices_and_shards(data_dir):
    source = TFDSSource("tiny_speech_clips", split="train[:5]", data_dir=data_dir)
    assert len(source) == 5
    shards = assert_shards_partition(source, num_shards=2)
    assert sorted(map(len, shards)) == [2, 3]


def test_tfds_ids_stand_in_for_a_missing_id_feature(data_dir):
    source = TFDSSource(
        "tiny_speech_clips", split="test", data_dir=data_dir, id_feature="utterance"
    )
    ids = [example.id for example in source.examples()]
    assert len(set(ids)) == 2
    assert all("tiny_speech_clips-test.tfrecord" in id for id in ids)


def test_unknown_feature_names_the_features(data_dir):
    with pytest.raises(
        ValueError,
        match=r"no feature 'audio'; its features: speech, text, id\. Set `speech_feature`",
    ):
        TFDSSource("tiny_speech_clips", data_dir=data_dir, speech_feature="audio")


def test_unknown_split_names_the_dataset_and_its_splits(data_dir):
    with pytest.raises(
        ValueError, match=r"'tiny_speech_clips': Unknown split 'dev'.*'train', 'test'"
    ):
        TFDSSource("tiny_speech_clips", split="dev", data_dir=data_dir)


def test_unprepared_dataset_without_download_fails_clearly(tmp_path):
    with pytest.raises(
        DatasetUnavailableError, match=r"'tiny_speech_clips' is not prepared in .*download=True"
    ):
        TFDSSource("tiny_speech_clips", data_dir=str(tmp_path), download=False)


def test_offline_download_of_librispeech_fails_clearly(tmp_path):
    # conftest sets WHISPER_KERAS_OFFLINE=1: no download is attempted.
    with pytest.raises(DatasetUnavailableError) as raised:
        TFDSSource("librispeech", split="dev_clean", data_dir=str(tmp_path))
    message = str(raised.value)
    assert "TFDS dataset 'librispeech' is not prepared in" in message
    assert "needs network access to download, or a prepared copy" in message
