"""ManifestSource: JSONL, CSV and TSV manifests of real audio files."""

import json
import logging
import os
import shutil

import numpy as np
import pytest
from source_checks import assert_shards_partition

from data_pipelines.manifest_source import ManifestError
from data_pipelines.manifest_source import ManifestSource
from whisper import audio_io


@pytest.fixture
def clips_dir(tmp_path, speech_clips):
    """The committed speech clips, copied under tmp_path/clips/."""
    directory = tmp_path / "clips"
    directory.mkdir()
    for path, _ in speech_clips:
        shutil.copy(path, directory)
    return directory


@pytest.fixture
def clips(speech_clips):
    """[(file name, sentence)] of the speech clips."""
    return [(os.path.basename(path), text) for path, text in speech_clips]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as file:
        for row in rows:
            file.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return str(path)


def write_delimited(path, header, rows, delimiter):
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write(delimiter.join(header) + "\n")
        for row in rows:
            file.write(delimiter.join(row) + "\n")
    return str(path)


def test_jsonl_relative_paths_resolve_against_the_manifest_dir(tmp_path, clips_dir, clips, caplog):
    manifest = write_jsonl(
        tmp_path / "train.jsonl",
        [{"audio": f"clips/{name}", "text": text} for name, text in clips],
    )
    with caplog.at_level(logging.WARNING, logger="data_pipelines.manifest_source"):
        source = ManifestSource(manifest)
    assert caplog.records == []  # A clean manifest: nothing to warn about.
    examples = list(source.examples())
    assert len(source) == len(examples) == len(clips)
    assert [e.path for e in examples] == [str(clips_dir / name) for name, _ in clips]
    assert [e.text for e in examples] == [text for _, text in clips]
    assert examples[0].id == "train.jsonl:1"
    assert examples[0].audio_kind == "path"
    # The paths are what the input pipeline reads.
    waveform = audio_io.load_audio(examples[0].path)
    assert waveform.dtype == np.float32 and waveform.size > 16000


def test_jsonl_absolute_paths_urls_ids_and_the_path_column(tmp_path, clips_dir, clips):
    absolute = str(clips_dir / clips[0][0])
    manifest = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"path": absolute, "text": "one", "id": "first"},
            {"path": "gs://bucket/two.flac", "text": "two", "id": 7},
            "",  # A blank line is no row.
        ],
    )
    examples = list(ManifestSource(manifest).examples())
    assert [(e.id, e.path, e.text) for e in examples] == [
        ("first", absolute, "one"),
        ("7", "gs://bucket/two.flac", "two"),
    ]


def test_csv_with_configured_columns_and_audio_root(tmp_path, clips_dir, clips):
    (tmp_path / "lists").mkdir()
    manifest = write_delimited(
        tmp_path / "lists" / "dev.csv",
        ["utterance", "file", "transcript"],
        [[f"u{i}", name, f'"{text}"'] for i, (name, text) in enumerate(clips)],
        ",",
    )
    source = ManifestSource(
        manifest,
        audio_column="file",
        text_column="transcript",
        id_column="utterance",
        audio_root=clips_dir,
    )
    examples = list(source.examples())
    assert [e.id for e in examples] == [f"u{i}" for i in range(len(clips))]
    assert [e.path for e in examples] == [str(clips_dir / name) for name, _ in clips]
    # Quoted CSV fields keep their commas.
    assert examples[2].text == "It is going to rain tomorrow, so bring an umbrella."


def test_tsv_keeps_quotation_marks_that_belong_to_the_text(tmp_path, clips_dir):
    manifest = write_delimited(
        tmp_path / "validated.tsv",
        ["client_id", "path", "sentence"],
        [["c1", "clips/call_me_back.wav", '"Call me back," she said.']],
        "\t",
    )
    (example,) = ManifestSource(manifest, text_column="sentence").examples()
    assert example.text == '"Call me back," she said.'
    assert example.path == str(clips_dir / "call_me_back.wav")


def test_format_argument_overrides_the_extension(tmp_path):
    manifest = write_jsonl(tmp_path / "list.txt", [{"audio": "a.wav", "text": "a"}])
    assert len(ManifestSource(manifest, format="jsonl")) == 1
    with pytest.raises(
        ManifestError, match=r"list\.txt.*'\.txt'.*'\.jsonl', '\.ndjson', '\.csv', '\.tsv'"
    ):
        ManifestSource(manifest)
    with pytest.raises(
        ManifestError, match=r"unknown format 'xml'; allowed: 'csv', 'jsonl', 'tsv'"
    ):
        ManifestSource(manifest, format="xml")


def test_missing_audio_files_are_left_to_the_pipeline(tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", [{"audio": "nowhere.wav", "text": "x"}])
    (example,) = ManifestSource(manifest).examples()
    assert example.path == str(tmp_path / "nowhere.wav")


def test_malformed_rows_are_skipped_counted_and_logged(tmp_path, caplog):
    manifest = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"audio": "a.wav", "text": "good"},
            "{not json",
            {"audio": "b.wav"},
            {"audio": "  ", "text": "empty path"},
            {"audio": "c.wav", "text": 5},
            ["a", "list"],
            {"audio": "d.wav", "text": "also good"},
        ],
    )
    with caplog.at_level(logging.WARNING, logger="data_pipelines.manifest_source"):
        source = ManifestSource(manifest)
    assert len(source) == 2
    assert [e.text for e in source.examples()] == ["good", "also good"]
    assert source.skipped_rows.counts() == {
        "invalid_json": 1,
        "missing_text": 1,
        "empty_audio_path": 1,
        "text_not_a_string": 1,
        "not_an_object": 1,
    }
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert (
        f"Manifest '{manifest}', line 3, column 'text': the field is missing or null." in messages
    )
    assert f"Manifest '{manifest}', line 4, column 'audio': the audio path is empty." in messages
    assert "skipped 5 malformed rows" in messages
    # Rows are named by file and line, for the run's summary.
    assert source.skipped_rows.examples("missing_text") == [
        ("bad.jsonl:3", "column 'text': the field is missing or null")
    ]


@pytest.mark.parametrize("extension", [".jsonl", ".csv", ".tsv"])
def test_rows_with_bytes_that_are_not_utf8_are_skipped(tmp_path, extension):
    if extension == ".jsonl":
        lines = [b'{"audio": "a.wav", "text": "Cafe"}', b'{"audio": "b.wav", "text": "Caf\xe9"}']
    else:
        separator = b"," if extension == ".csv" else b"\t"
        lines = [separator.join(row) for row in ([b"audio", b"text"], [b"a.wav", b"Cafe"])]
        lines.append(separator.join([b"b.wav", b"Caf\xe9"]))  # Latin-1, not UTF-8.
    manifest = tmp_path / f"latin.{extension[1:]}"
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    source = ManifestSource(manifest)
    assert [example.text for example in source.examples()] == ["Cafe"]
    assert source.skipped_rows.counts() == {"invalid_utf8": 1}


def test_strict_mode_raises_on_the_first_malformed_row(tmp_path):
    manifest = write_delimited(
        tmp_path / "bad.csv", ["audio", "text"], [["a.wav", "fine"], ["b.wav"]], ","
    )
    with pytest.raises(
        ManifestError, match=r"bad\.csv', line 3: 1 fields where the header has 2"
    ) as raised:
        ManifestSource(manifest, strict=True)
    assert (raised.value.line, raised.value.reason) == (3, "wrong_field_count")
    assert len(ManifestSource(manifest)) == 1


def test_header_without_the_text_column_is_fatal(tmp_path):
    manifest = write_delimited(
        tmp_path / "no_text.csv", ["path", "sentence"], [["a.wav", "hello"]], ","
    )
    with pytest.raises(
        ManifestError,
        match=r"no_text\.csv', line 1: the header has no column 'text' \(its columns: "
        r"'path', 'sentence'\); set text_column to one of them",
    ) as error:
        ManifestSource(manifest)
    assert error.value.argument == "text_column"


def test_manifest_without_any_audio_column_is_fatal(tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", [{"file": "a.wav", "text": "a"}])
    with pytest.raises(
        ManifestError, match=r"no audio column.*'audio', 'path', 'audio_filepath'.*'file', 'text'"
    ):
        ManifestSource(manifest)


def test_jsonl_whose_rows_all_lack_the_text_column_is_fatal(tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", [{"audio": "a.wav", "sentence": "a"}] * 3)
    with pytest.raises(ManifestError, match=r"no usable rows \(missing_text 3\)"):
        ManifestSource(manifest)


def test_missing_or_empty_manifest_is_fatal(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.jsonl"):
        ManifestSource(tmp_path / "absent.jsonl")
    with pytest.raises(IsADirectoryError, match="is a directory, not a manifest file"):
        ManifestSource(tmp_path)
    with pytest.raises(ManifestError, match="it is empty"):
        ManifestSource(write_jsonl(tmp_path / "empty.jsonl", []), audio_column="audio")


def test_shards_are_disjoint_and_cover_the_manifest(tmp_path):
    manifest = write_jsonl(
        tmp_path / "m.jsonl", [{"audio": f"{i}.wav", "text": str(i)} for i in range(11)]
    )
    source = ManifestSource(manifest)
    shards = assert_shards_partition(source, num_shards=3)
    assert [len(shard) for shard in shards] == [4, 4, 3]
    with pytest.raises(ValueError, match="Shard 3 of 3 does not exist"):
        source.examples(shard_index=3, num_shards=3)


def test_languages_segments_and_previous_texts_are_read(tmp_path):
    segments = [
        {"start": 0.0, "end": 1.2, "text": "Hello."},
        {"start": 1.5, "end": 2, "text": "Hi."},
    ]
    rows = [
        {"audio": "a.wav", "text": "One.", "recording": "r1"},
        {"audio": "b.wav", "text": "Two.", "recording": "r2", "language": "de"},
        {"audio": "c.wav", "text": "Hello. Hi.", "recording": "r1", "segments": segments},
        {"audio": "d.wav", "text": "Four.", "recording": "r1", "previous_text": "Given."},
        {"audio": "e.wav", "text": "Five.", "recording": "r1"},
    ]
    examples = list(ManifestSource(write_jsonl(tmp_path / "m.jsonl", rows)).examples())
    # The row before in its recording, unless the row names its own.
    assert [e.previous_text for e in examples] == [None, None, "One.", "Given.", "Four."]
    assert [e.language for e in examples] == [None, "de", None, None, None]
    assert [(s.start, s.end, s.text) for s in examples[2].segments] == [
        (0.0, 1.2, "Hello."),
        (1.5, 2, "Hi."),
    ]
    header = ["audio", "text", "segments"]
    tsv = write_delimited(
        tmp_path / "m.tsv", header, [["a.wav", "Hello. Hi.", json.dumps(segments)]], "\t"
    )
    assert len(next(ManifestSource(tsv).examples()).segments) == 2


@pytest.mark.parametrize(
    "field, reason",
    [
        ({"segments": [{"start": 2.0, "end": 1.0, "text": "x"}]}, "invalid_segments"),
        ({"segments": [{"start": 0.0, "end": 31.0, "text": "x"}]}, "invalid_segments"),
        ({"segments": [{"start": 0.0, "text": "x"}]}, "invalid_segments"),
        ({"segments": "not json"}, "invalid_segments"),
        ({"language": 3}, "field_not_a_string"),
        ({"previous_text": ["a"]}, "field_not_a_string"),
    ],
)
def test_bad_optional_fields_skip_their_row(tmp_path, field, reason):
    rows = [{"audio": "a.wav", "text": "Fine."}, {"audio": "b.wav", "text": "Bad.", **field}]
    source = ManifestSource(write_jsonl(tmp_path / "m.jsonl", rows))
    assert len(source) == 1
    assert source.skipped_rows.counts() == {reason: 1}
    column = next(iter(field))
    assert f"column '{column}'" in source.skipped_rows.summary()
