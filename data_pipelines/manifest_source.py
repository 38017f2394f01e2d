"""`ManifestSource`: speech listed in a JSONL, CSV or TSV manifest.

A manifest lists one utterance per row: the path of its audio file, its
transcript and, optionally, an id. The format follows the file's extension
(`.jsonl`/`.ndjson`, `.csv`, `.tsv`) unless `format` names it. CSV and TSV
manifests start with a header row. Column names are configurable; by default
the audio path is the first of `audio`, `path` and `audio_filepath` (NeMo's
name) that the manifest has, the transcript is `text` and the id is `id`
(without an id column, `<manifest file name>:<line>`). Relative audio paths
resolve against `audio_root`, by default the manifest's own directory;
absolute paths and URLs (`gs://...`) are kept as they are.

Optional columns, read when a row has them (names configurable):
`language` (a Whisper code or name: the example's prompt language),
`segments` (its timed segments: a list of `{"start", "end", "text"}`,
seconds from the clip's start, in order; in CSV/TSV a JSON string of that
list), `previous_text` (what was said just before), and `recording`: rows
of the same recording, listed in the order they were spoken, give each
row without a `previous_text` the text of the row before it.

What is fatal and what is skipped: problems with the manifest as a whole
fail at once, when the source is built, so a misconfigured run stops before
training (no such file, unknown format, a CSV/TSV header without the audio
or text column, no usable row at all). A malformed row (bytes that are not
UTF-8, invalid JSON, a missing or empty field, a wrong number of fields) is
skipped, logged with its file, line and column, and counted in
`skipped_rows`, a `SkipCounter` of the reasons in `ROW_SKIP_REASONS` with
`<manifest file name>:<line>` as the row's id; pass `strict=True` to raise
a `ManifestError` instead. The data pipeline adds `skipped_rows` to the
skips it counts, so a run's summary holds both. Whether the audio files
exist is not checked here: the input pipeline skips and counts unreadable
files when it decodes them.

Example:

```python
import json
from data_pipelines.manifest_source import ManifestSource

with open("train.jsonl", "w") as file:
    file.write(json.dumps({"audio": "clips/a.wav", "text": "Hello there."}) + "\\n")
    file.write(json.dumps({"audio": "clips/b.flac", "text": "Good night."}) + "\\n")

source = ManifestSource("train.jsonl")
len(source)  # 2
[example.path for example in source.examples()]
# ['/abs/dir/clips/a.wav', '/abs/dir/clips/b.flac']
```
"""

import csv
import dataclasses
import json
import logging
import os

from data_pipelines.skip_counter import SkipCounter
from data_pipelines.speech_example import SpeechExample
from data_pipelines.speech_example import check_segments
from data_pipelines.speech_source import SpeechSource
from data_pipelines.speech_source import round_robin
from whisper.transcription.transcript import Segment

MANIFEST_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
}
DEFAULT_AUDIO_COLUMNS = ("audio", "path", "audio_filepath")
# Enough logged rows to see what is wrong without flooding the log when a
# whole column is off; every bad row is counted all the same.
MAX_LOGGED_ROWS = 10

# Why a row is skipped: stable names, for logs and run.json.
INVALID_UTF8 = "invalid_utf8"  # Bytes that are not UTF-8 (or a JSON lone surrogate escape).
INVALID_JSON = "invalid_json"  # A JSONL line that does not parse.
NOT_AN_OBJECT = "not_an_object"  # A JSONL line that parses to a list, a number, ...
WRONG_FIELD_COUNT = "wrong_field_count"  # A CSV/TSV row with more or fewer fields than its header.
MISSING_AUDIO = "missing_audio"  # No audio field, or null (a missing file is the pipeline's).
MISSING_TEXT = "missing_text"  # No text field, or null (an empty one is the pipeline's).
AUDIO_NOT_A_STRING = "audio_not_a_string"
TEXT_NOT_A_STRING = "text_not_a_string"
EMPTY_AUDIO_PATH = "empty_audio_path"
# An optional field (language, previous text, recording) that is not a string.
FIELD_NOT_A_STRING = "field_not_a_string"
# Segments that are not a list of in-order {"start", "end", "text"} within 30 s.
INVALID_SEGMENTS = "invalid_segments"
ROW_SKIP_REASONS = (
    INVALID_UTF8,
    INVALID_JSON,
    NOT_AN_OBJECT,
    WRONG_FIELD_COUNT,
    MISSING_AUDIO,
    MISSING_TEXT,
    AUDIO_NOT_A_STRING,
    TEXT_NOT_A_STRING,
    EMPTY_AUDIO_PATH,
    FIELD_NOT_A_STRING,
    INVALID_SEGMENTS,
)

logger = logging.getLogger(__name__)


class ManifestError(ValueError):
    """A manifest, or one of its rows, that cannot be used.

    Attributes:
        path: the manifest file.
        line: the 1-based line of the bad row, or None for the whole file.
        column: the column at fault, or None.
        reason: for a bad row, one of `ROW_SKIP_REASONS`, e.g.
            `"missing_text"`.
        detail: what is wrong, with the column but not the file and line.
        argument: for the whole file, the `ManifestSource` argument that
            would fix it (e.g. `"audio_column"`), or None.
    """

    def __init__(self, path, message, line=None, column=None, reason=None, argument=None):
        where = f"Manifest '{path}'" + (f", line {line}" if line else "")
        self.detail = (f"column '{column}': " if column else "") + message.rstrip(".")
        super().__init__(f"{where}, {self.detail}." if column else f"{where}: {self.detail}.")
        self.path = path
        self.line = line
        self.column = column
        self.reason = reason
        self.argument = argument


class ManifestSource(SpeechSource):
    """Speech examples listed in a local JSONL, CSV or TSV manifest.

    Args:
        path: str. The manifest file.
        audio_column: str. The column of audio paths; None takes the first
            of `DEFAULT_AUDIO_COLUMNS` the manifest has.
        text_column: str. The column of transcripts.
        id_column: str. The column of example ids, used when present.
        format: "jsonl", "csv" or "tsv"; None reads it from the extension.
        audio_root: str. The directory relative audio paths resolve
            against; None for the manifest's directory.
        strict: bool. Raise `ManifestError` on the first malformed row
            instead of skipping it.
        language_column: str. The column of per-example languages.
        segments_column: str. The column of timed segments.
        previous_text_column: str. The column of the text said before.
        recording_column: str. The column naming each row's recording.

    Attributes:
        skipped_rows: a `SkipCounter` of the malformed rows, counted once
            when the manifest is read (passes over the examples skip them
            without counting them again).
    """

    def __init__(
        self,
        path,
        audio_column=None,
        text_column="text",
        id_column="id",
        format=None,
        audio_root=None,
        strict=False,
        language_column="language",
        segments_column="segments",
        previous_text_column="previous_text",
        recording_column="recording",
    ):
        self.path = os.path.abspath(os.fspath(path))
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"Manifest '{self.path}' is a directory, not a manifest file.")
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"Manifest '{self.path}' does not exist.")
        self.format = _manifest_format(self.path, format)
        self.text_column = text_column
        self.id_column = id_column
        self.audio_root = os.path.abspath(audio_root or os.path.dirname(self.path))
        self.strict = strict
        self.language_column = language_column
        self.segments_column = segments_column
        self.previous_text_column = previous_text_column
        self.recording_column = recording_column
        self.name = f"manifest:{os.path.basename(self.path)}"
        self.audio_column = audio_column or self._find_audio_column()
        if self.format != "jsonl":
            self._check_header()
        self.skipped_rows = SkipCounter()
        self._num_examples = self._count_examples()

    @property
    def num_examples(self):
        return self._num_examples

    def _examples(self, shard_index, num_shards):
        rows = self._parsed_rows()
        usable = (row for row in rows if isinstance(row, SpeechExample))
        return round_robin(usable, shard_index, num_shards)

    def _count_examples(self):
        """Reads every row once: counts the usable ones, skips the rest."""
        count = 0
        for row in self._parsed_rows():
            if isinstance(row, SpeechExample):
                count += 1
            else:
                self._skip(row)
        if count == 0:
            raise ManifestError(
                self.path,
                f"no usable rows ({_describe(self.skipped_rows.counts()) or 'it is empty'}); "
                f"audio column '{self.audio_column}', text column "
                f"'{self.text_column}'.",
            )
        if self.skipped_rows.total:
            logger.warning(
                "Manifest '%s': skipped %d malformed rows (%s); %d usable.",
                self.path,
                self.skipped_rows.total,
                _describe(self.skipped_rows.counts()),
                count,
            )
        return count

    def _skip(self, error):
        if self.strict:
            raise error
        row_id = f"{os.path.basename(self.path)}:{error.line}"
        self.skipped_rows.skip(error.reason, row_id, error.detail)
        if self.skipped_rows.total <= MAX_LOGGED_ROWS:
            logger.warning("%s The row is skipped.", error)

    def _parsed_rows(self):
        """Yields a `SpeechExample` or a `ManifestError` for every row.

        A row's previous text, unless it has its own, is the text of the
        row before it in its recording.
        """
        last_text = {}
        for line, row in self._raw_rows():
            if isinstance(row, ManifestError):
                yield row
                continue
            example = self._example(line, row)
            recording = row.get(self.recording_column)
            if isinstance(example, SpeechExample) and recording is not None:
                if example.previous_text is None and recording in last_text:
                    example = dataclasses.replace(example, previous_text=last_text[recording])
                last_text[recording] = example.text
            yield example

    def _raw_rows(self):
        """Yields `(line, dict of fields)`, or `(line, ManifestError)`."""
        if self.format == "jsonl":
            yield from self._jsonl_rows()
        else:
            yield from self._delimited_rows()

    def _jsonl_rows(self):
        with self._open() as file:
            for line, text in enumerate(file, start=1):
                if not text.strip():
                    continue  # A trailing or spacing blank line is no row.
                yield line, self._jsonl_row(line, text)

    def _jsonl_row(self, line, text):
        """One line's dict of fields, or a `ManifestError`."""
        if _has_undecodable_bytes(text):
            # Checked first: such bytes inside a string would parse, and
            # outside one they would be reported as invalid JSON.
            return self._error(_NOT_UTF8, line, reason=INVALID_UTF8)
        try:
            row = json.loads(text)
        except json.JSONDecodeError as error:
            return self._error(f"invalid JSON ({error})", line, reason=INVALID_JSON)
        if not isinstance(row, dict):
            return self._error(
                f"a row must be a JSON object, got {type(row).__name__}",
                line,
                reason=NOT_AN_OBJECT,
            )
        return row

    def _open(self, newline=None):
        """The manifest as text. A BOM is dropped; bytes that are not UTF-8
        become lone surrogates, so that one bad row is skipped rather than
        the whole file failing to decode. (`newline=""` for the csv module.)"""
        return open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline=newline)

    def _delimited_rows(self):
        with self._open(newline="") as file:
            reader = self._csv_reader(file)
            header = next(reader, [])
            for fields in reader:
                if not any(field.strip() for field in fields):
                    continue
                if len(fields) != len(header):
                    yield (
                        reader.line_num,
                        self._error(
                            f"{len(fields)} fields where the header has {len(header)}",
                            reader.line_num,
                            reason=WRONG_FIELD_COUNT,
                        ),
                    )
                    continue
                yield reader.line_num, dict(zip(header, fields))

    def _csv_reader(self, file):
        if self.format == "tsv":
            # TSV manifests (Common Voice's among them) do not quote: a
            # transcript may begin with a quotation mark that is its own.
            return csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        return csv.reader(file)

    def _example(self, line, row):
        """The row's `SpeechExample`, or a `ManifestError` saying what is wrong."""
        error = self._field_error(line, row)
        if error is not None:
            return error
        example_id = row.get(self.id_column)
        if example_id is None or example_id == "":
            example_id = f"{os.path.basename(self.path)}:{line}"
        path = self._resolve(row[self.audio_column].strip())
        segments = row.get(self.segments_column)
        if segments is not None:
            segments = self._segments(line, segments)
            if isinstance(segments, ManifestError):
                return segments
        return SpeechExample(
            id=str(example_id),
            text=row[self.text_column],
            path=path,
            language=row.get(self.language_column) or None,
            previous_text=row.get(self.previous_text_column),
            segments=segments,
        )

    def _segments(self, line, value):
        """A tuple of `Segment`s from a list (or JSON text) of objects, or a
        `ManifestError`."""
        column = self.segments_column
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                return self._error(f"invalid JSON ({error})", line, column, INVALID_SEGMENTS)
        try:
            segments = tuple(Segment(s["start"], s["end"], s["text"]) for s in value)
            check_segments(segments)
        except (TypeError, KeyError) as error:
            message = (
                f'must be a list of {{"start", "end", "text"}} objects, got {value!r} ({error!r})'
            )
            return self._error(message, line, column, INVALID_SEGMENTS)
        except ValueError as error:
            return self._error(str(error), line, column, INVALID_SEGMENTS)
        return segments

    def _field_error(self, line, row):
        """A `ManifestError` for the row's first unusable field, or None."""
        for column, missing, not_a_string in (
            (self.audio_column, MISSING_AUDIO, AUDIO_NOT_A_STRING),
            (self.text_column, MISSING_TEXT, TEXT_NOT_A_STRING),
        ):
            value = row.get(column)
            if value is None:
                return self._error("the field is missing or null", line, column, missing)
            if not isinstance(value, str):
                message = f"must be a string, got {type(value).__name__} {value!r}"
                return self._error(message, line, column, not_a_string)
        if not row[self.audio_column].strip():
            return self._error("the audio path is empty", line, self.audio_column, EMPTY_AUDIO_PATH)
        for column in (self.language_column, self.previous_text_column, self.recording_column):
            value = row.get(column)
            if value is not None and not isinstance(value, str):
                message = f"must be a string, got {type(value).__name__} {value!r}"
                return self._error(message, line, column, FIELD_NOT_A_STRING)
        text_columns = (
            self.audio_column,
            self.text_column,
            self.id_column,
            self.language_column,
            self.previous_text_column,
        )
        for column in text_columns:
            value = row.get(column)
            # Lone surrogates cannot be encoded into TensorFlow's strings.
            if isinstance(value, str) and _has_undecodable_bytes(value):
                return self._error(_NOT_UTF8, line, column, INVALID_UTF8)
        return None

    def _resolve(self, audio_path):
        if "://" in audio_path or os.path.isabs(audio_path):
            return audio_path
        return os.path.normpath(os.path.join(self.audio_root, audio_path))

    def _error(self, message, line, column=None, reason=None):
        return ManifestError(self.path, message, line=line, column=column, reason=reason)

    def _find_audio_column(self):
        """The first default audio column the manifest has."""
        columns = self._header() if self.format != "jsonl" else self._first_row_keys()
        for column in DEFAULT_AUDIO_COLUMNS:
            if column in columns:
                return column
        raise ManifestError(
            self.path,
            f"no audio column: it has none of {_quoted(DEFAULT_AUDIO_COLUMNS)} "
            f"(its columns: {_quoted(columns) or 'none'}); name the column of "
            f"audio paths with audio_column.",
            argument="audio_column",
        )

    def _first_row_keys(self):
        """The keys of the first JSON object that has a default audio column."""
        first = []
        for _, row in self._jsonl_rows():
            if isinstance(row, dict):
                if any(column in row for column in DEFAULT_AUDIO_COLUMNS):
                    return list(row)
                first = first or list(row)
        return first

    def _header(self):
        with self._open(newline="") as file:
            return next(self._csv_reader(file), [])

    def _check_header(self):
        header = self._header()
        for argument, column in (
            ("audio_column", self.audio_column),
            ("text_column", self.text_column),
        ):
            if column not in header:
                raise ManifestError(
                    self.path,
                    f"the header has no column '{column}' (its columns: "
                    f"{_quoted(header) or 'none'}); set {argument} to one of them.",
                    line=1,
                    argument=argument,
                )


def _manifest_format(path, format):
    if format is None:
        extension = os.path.splitext(path)[1].lower()
        if extension not in MANIFEST_FORMATS:
            raise ManifestError(
                path,
                f"unknown manifest extension '{extension}'; allowed: "
                f"{_quoted(MANIFEST_FORMATS)}, or pass format.",
                argument="format",
            )
        return MANIFEST_FORMATS[extension]
    allowed = sorted(set(MANIFEST_FORMATS.values()))
    if format not in allowed:
        raise ManifestError(
            path, f"unknown format {format!r}; allowed: {_quoted(allowed)}.", argument="format"
        )
    return format


_NOT_UTF8 = "it holds bytes that are not UTF-8 text"


def _has_undecodable_bytes(text):
    """Whether `text` holds lone surrogates: bytes `surrogateescape` could not
    decode as UTF-8, or a JSON escape such as "\\udc80" of no character."""
    return any("\ud800" <= character <= "\udfff" for character in text)


def _quoted(names):
    return ", ".join(f"'{name}'" for name in names)


def _describe(counts):
    return ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items()))
