"""HFDatasetsSource on Hugging Face datasets built here from real audio files."""

import os

import datasets
import numpy as np
import pytest
from source_checks import assert_shards_partition
from speech_datasets import clip_table
from speech_datasets import save_hf_dataset

from data_pipelines.hf_datasets_source import HFDatasetsSource
from data_pipelines.speech_source import DatasetUnavailableError
from whisper import audio_io


@pytest.fixture(scope="module")
def saved_dataset(speech_clips, tmp_path_factory):
    """The speech clips as a `save_to_disk` Dataset with an Audio column."""
    return save_hf_dataset(tmp_path_factory.mktemp("hf") / "clips", speech_clips)


def test_saved_dataset_round_trip(saved_dataset, speech_clips):
    source = HFDatasetsSource(saved_dataset)
    examples = list(source.examples())
    assert len(source) == len(examples) == len(speech_clips)
    for example, (path, text) in zip(examples, speech_clips):
        assert example.text == text
        assert example.id == os.path.splitext(os.path.basename(path))[0]
        # save_to_disk embeds the files: the example carries their bytes.
        assert example.audio_kind == "audio_bytes"
        with open(path, "rb") as file:
            assert example.audio_bytes == file.read()
        np.testing.assert_array_equal(
            audio_io.decode_audio(example.audio_bytes), audio_io.load_audio(path)
        )


def test_saved_dataset_dict_split_is_chosen(speech_clips, tmp_path):
    table = datasets.Dataset.from_dict(clip_table(speech_clips)).cast_column(
        "audio", datasets.Audio()
    )
    splits = datasets.DatasetDict(
        {"train": table.select(range(6)), "test": table.select(range(6, 8))}
    )
    splits.save_to_disk(str(tmp_path / "splits"))
    test = HFDatasetsSource(str(tmp_path / "splits"), split="test")
    assert [e.text for e in test.examples()] == [t for _, t in speech_clips[6:]]
    with pytest.raises(ValueError, match=r"no split 'validation'; its splits: train, test"):
        HFDatasetsSource(str(tmp_path / "splits"), split="validation")


def test_path_columns_and_configured_names(speech_clips, tmp_path):
    table = datasets.Dataset.from_dict(
        {"file": [p for p, _ in speech_clips], "sentence": [t for _, t in speech_clips]}
    )
    table.save_to_disk(str(tmp_path / "paths"))
    source = HFDatasetsSource(str(tmp_path / "paths"), audio_column="file", text_column="sentence")
    examples = list(source.examples())
    assert [e.path for e in examples] == [p for p, _ in speech_clips]
    assert examples[3].id == "train:3"
    with pytest.raises(
        ValueError, match=r"has no column 'text'; its columns: file, sentence\. Set `text_column`"
    ):
        HFDatasetsSource(str(tmp_path / "paths"), audio_column="file")


def test_rows_without_text_or_audio_are_skipped_and_counted(speech_clips, tmp_path):
    (path, _), (other, _) = speech_clips[:2]
    table = datasets.Dataset.from_dict(
        {"audio": [path, None, other], "text": ["kept", "no audio", None]}
    )
    table.cast_column("audio", datasets.Audio()).save_to_disk(str(tmp_path / "gaps"))
    source = HFDatasetsSource(str(tmp_path / "gaps"))
    assert [e.text for e in source.examples()] == ["kept"]
    assert source.skipped_rows == {"missing_audio": 1, "text_not_a_string": 1}


def test_shards_are_disjoint_and_cover_the_dataset(saved_dataset, speech_clips):
    shards = assert_shards_partition(HFDatasetsSource(saved_dataset), num_shards=3)
    ids = clip_table(speech_clips)["id"]
    assert shards == [ids[0::3], ids[1::3], ids[2::3]]


def test_streamed_packaged_dataset(saved_dataset, speech_clips, tmp_path):
    """A streamed `load_dataset` (the parquet builder over local files)."""
    table = datasets.load_from_disk(saved_dataset).cast_column(
        "audio", datasets.Audio(decode=False)
    )
    files = []
    for index in range(4):
        files.append(str(tmp_path / f"part-{index}.parquet"))
        table.shard(4, index, contiguous=True).to_parquet(files[-1])
    source = HFDatasetsSource(
        "parquet",
        data_files=files,
        split="train",
        streaming=True,
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(TypeError, match="unknown"):
        len(source)
    examples = list(source.examples())
    assert sorted(e.text for e in examples) == sorted(t for _, t in speech_clips)
    assert all(e.audio_bytes[:4] in (b"RIFF", b"fLaC", b"OggS") for e in examples)
    # Four files over two shards: two whole files each.
    assert [len(s) for s in assert_shards_partition(source, num_shards=2)] == [4, 4]


def test_missing_local_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="Dataset directory '.*absent' does not exist"):
        HFDatasetsSource(str(tmp_path / "absent"))


def test_offline_hub_dataset_fails_clearly():
    # conftest sets WHISPER_KERAS_OFFLINE=1: the Hub is not contacted.
    with pytest.raises(DatasetUnavailableError) as raised:
        HFDatasetsSource("openslr/librispeech_asr", config="clean", split="validation")
    message = str(raised.value)
    assert "'openslr/librispeech_asr'" in message
    assert "network access to the Hub, or a local copy" in message
    assert "save_to_disk" in message
