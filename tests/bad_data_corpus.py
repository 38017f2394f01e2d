"""A speech corpus of bad data mixed with good and unusual-but-valid clips.

`write_bad_data_corpus(directory, good_clips)` writes audio files and JSONL
train and dev manifests that mix real speech (the espeak-ng clips of
tests/data/speech/) with every kind of bad data a large corpus holds: files
that are not audio or not there, audio with no, non-finite or overflowing
samples, clips too short or too long, unusable transcripts and manifest
rows that do not parse. It also writes valid files in unusual formats
(8 kHz, stereo, 8-bit unsigned, 24-bit, float64, float samples near +-8),
converted from the good clips, which training must use rather than skip.

The returned `BadDataCorpus` says which example is skipped for which reason,
so a test can compare a pipeline's `SkipCounter` with it exactly. Example
ids are those `ManifestSource` gives: a row's `id`, and for a row it cannot
parse `<manifest file name>:<line>`.
"""

import collections
import dataclasses
import io
import itertools
import json
import os

import numpy as np
import soundfile

from whisper.audio_io import load_audio
from whisper.audio_io import resample

RATE = 16000
# At most the 4 held-out examples of `debug=fast`, so that evaluation reads
# the whole dev manifest and its skips are counted exactly once.
DEV_GOOD_CLIPS = 3
# Enough words for more decoder tokens than Whisper's 448 positions.
LONG_TRANSCRIPT_WORDS = 1200


@dataclasses.dataclass
class BadDataCorpus:
    """What `write_bad_data_corpus` wrote.

    Attributes:
        train_manifest, dev_manifest: the JSONL manifests' paths.
        skipped: per split ("train", "dev"), each skipped example's id and
            its skip reason.
        usable: per split, each usable example's id and transcript, in
            manifest order.
        unusual_ids: the train examples in unusual but valid formats.
    """

    train_manifest: str
    dev_manifest: str
    skipped: dict
    usable: dict
    unusual_ids: tuple

    def expected_counts(self, split):
        """{reason: count} that one pass over `split` skips."""
        return dict(collections.Counter(self.skipped[split].values()))


def write_bad_data_corpus(directory, good_clips):
    """Writes the corpus under `directory`.

    Args:
        directory: an existing directory; audio goes to `clips/` in it.
        good_clips: `[(audio path, transcript)]` of real speech, at least
            `DEV_GOOD_CLIPS + 6`, such as the `speech_clips` fixture's. The
            last `DEV_GOOD_CLIPS` go to the dev set, the others to train.

    Returns:
        A `BadDataCorpus`.
    """
    directory = os.fspath(directory)
    clips = _Clips(os.path.join(directory, "clips"))
    train_good, dev_good = good_clips[:-DEV_GOOD_CLIPS], good_clips[-DEV_GOOD_CLIPS:]
    speech, text = load_audio(train_good[0][0]), train_good[0][1]
    train = _Manifest(os.path.join(directory, "train.jsonl"))
    for path, transcript in train_good:
        train.usable(os.path.basename(path), path, transcript)
    unusual_ids = _add_unusual(train, clips, train_good)
    _add_bad_audio(train, clips, speech, text)
    _add_bad_transcripts(train, clips, speech, train_good)
    _add_bad_rows(train, train_good[0][0])
    dev = _Manifest(os.path.join(directory, "dev.jsonl"))
    for path, transcript in dev_good:
        dev.usable(f"dev-{os.path.basename(path)}", path, transcript)
    _add_dev_bad(dev, clips, speech, text)
    train.write()
    dev.write()
    return BadDataCorpus(
        train_manifest=train.path,
        dev_manifest=dev.path,
        skipped={"train": train.skipped, "dev": dev.skipped},
        usable={"train": train.texts, "dev": dev.texts},
        unusual_ids=unusual_ids,
    )


def _add_unusual(manifest, clips, good_clips):
    """Valid files in unusual formats, each converted from a good clip."""
    formats = {
        "rate-8k": lambda w: clips.write("rate_8k.wav", resample(w, RATE, 8000), 8000),
        "stereo": lambda w: clips.write("stereo.wav", np.stack([w, 0.5 * w], axis=1)),
        "pcm-u8": lambda w: clips.write("pcm_u8.wav", w, subtype="PCM_U8"),
        "pcm-24": lambda w: clips.write("pcm_24.wav", w, subtype="PCM_24"),
        "float64": lambda w: clips.write("float64.wav", w.astype(np.float64), subtype="DOUBLE"),
        # Float WAVs are not clipped to [-1, 1]; a loud one is still speech.
        "loud-float": lambda w: clips.write(
            "loud_float.wav", 8 * w / np.abs(w).max(), subtype="FLOAT"
        ),
    }
    for (path, text), (example_id, write) in zip(itertools.cycle(good_clips), formats.items()):
        manifest.usable(example_id, write(load_audio(path)), text)
    return tuple(formats)


def _add_bad_audio(manifest, clips, speech, text):
    """Real transcripts with audio that cannot be used."""
    with_nan, with_inf = speech.copy(), speech.copy()
    with_nan[1000:1100] = np.nan
    with_inf[2000] = np.inf
    bad = {
        "random-bytes": ("unreadable_audio", clips.raw("random.wav", _random_bytes())),
        "truncated-header": ("unreadable_audio", clips.raw("truncated.wav", _wav(speech)[:30])),
        "zero-bytes": ("empty_file", clips.raw("zero_bytes.wav", b"")),
        "zero-samples": ("empty_audio", clips.write("zero_samples.wav", speech[:0])),
        "nan-samples": ("non_finite_audio", clips.write("nan.wav", with_nan, subtype="FLOAT")),
        "inf-samples": ("non_finite_audio", clips.write("inf.wav", with_inf, subtype="FLOAT")),
        # Finite, but their power overflows float32 in the log-mel features.
        "huge-samples": (
            "non_finite_features",
            clips.write("huge.wav", speech * np.float32(1e30), subtype="FLOAT"),
        ),
        "long-45s": ("too_long", clips.write("long_45s.wav", _tiled(speech, 45.0))),
        "short-20ms": ("too_short", clips.write("short_20ms.wav", speech[: RATE // 50])),
        "missing-file": ("audio_not_found", "clips/never_written.wav"),
        "directory": ("not_a_file", clips.directory("a_directory.wav")),
    }
    for example_id, (reason, audio) in bad.items():
        manifest.skip(reason, example_id, audio, text)


def _add_bad_transcripts(manifest, clips, speech, good_clips):
    """Good audio whose transcript cannot be trained on."""
    audio = clips.write("speech.wav", speech)
    manifest.skip("empty_text", "empty-transcript", audio, "")
    words = " ".join(text for _, text in good_clips).split()
    chatty = " ".join(words[index % len(words)] for index in range(LONG_TRANSCRIPT_WORDS))
    manifest.skip("label_too_long", "long-transcript", audio, chatty)
    # tiny.en's English-only tokenizer has no French prompt.
    french = {"id": "french", "audio": audio, "text": "Bonjour.", "language": "fr"}
    manifest.raw("unsupported_language", json.dumps(french).encode(), example_id="french")


def _add_bad_rows(manifest, audio):
    """Manifest rows that do not parse, written as raw lines."""
    manifest.raw("invalid_json", b'{"id": "broken", "audio": "clips/speech.wav", "text": "Oops')
    manifest.raw("missing_text", json.dumps({"id": "no-text", "audio": audio}).encode())
    # "Caf\xe9" is Latin-1 for "Cafe" with an acute accent: not UTF-8.
    latin_1 = b'{"id": "latin-1", "audio": "clips/speech.wav", "text": "Caf\xe9 au lait"}'
    manifest.raw("invalid_utf8", latin_1)
    manifest.raw("not_an_object", json.dumps([audio, "a list, not an object"]).encode())
    backwards = [{"start": 2.0, "end": 1.0, "text": "Time runs backwards."}]
    segments = {"id": "backwards", "audio": audio, "text": "Hi.", "segments": backwards}
    manifest.raw("invalid_segments", json.dumps(segments).encode())


def _add_dev_bad(manifest, clips, speech, text):
    """A few bad examples and rows among the held-out ones."""
    manifest.skip("unreadable_audio", "dev-random-bytes", clips.path("random.wav"), text)
    manifest.skip("audio_not_found", "dev-missing-file", "clips/never_written.wav", text)
    manifest.skip("empty_text", "dev-empty-transcript", clips.path("speech.wav"), "  ")
    manifest.skip("too_long", "dev-long-45s", clips.path("long_45s.wav"), text)
    manifest.raw("invalid_json", b"{not json at all")


class _Clips:
    """Audio files in one folder; each method returns the file's path."""

    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    def path(self, name):
        return os.path.join(self.folder, name)

    def write(self, name, samples, rate=RATE, subtype="PCM_16"):
        soundfile.write(self.path(name), samples, rate, subtype=subtype, format="WAV")
        return self.path(name)

    def raw(self, name, data):
        with open(self.path(name), "wb") as file:
            file.write(data)
        return self.path(name)

    def directory(self, name):
        os.makedirs(self.path(name), exist_ok=True)
        return self.path(name)


class _Manifest:
    """A JSONL manifest of usable and bad lines, and what each line should do."""

    def __init__(self, path):
        self.path = path
        self.texts = {}
        self.skipped = {}
        self._usable_lines = []
        self._bad_lines = []  # (reason, example id or None for a raw line, line)

    def usable(self, example_id, audio, text):
        self._usable_lines.append(_row(example_id, audio, text))
        self.texts[example_id] = text

    def skip(self, reason, example_id, audio, text):
        self._bad_lines.append((reason, example_id, _row(example_id, audio, text)))

    def raw(self, reason, line, example_id=None):
        """A line written as it is: one `ManifestSource` cannot parse (its
        id is file and line), or an example `example_id` it skips."""
        self._bad_lines.append((reason, example_id, line))

    def write(self):
        """Writes usable and bad lines in turn, so that bad rows lie among good ones."""
        lines = []
        for usable, bad in itertools.zip_longest(self._usable_lines, self._bad_lines):
            if usable is not None:
                lines.append(usable)
            if bad is not None:
                reason, example_id, line = bad
                lines.append(line)
                row_id = f"{os.path.basename(self.path)}:{len(lines)}"
                self.skipped[example_id or row_id] = reason
        with open(self.path, "wb") as file:
            file.writelines(line + b"\n" for line in lines)


def _row(example_id, audio, text):
    return json.dumps({"id": example_id, "audio": audio, "text": text}).encode()


def _random_bytes():
    return np.random.default_rng(0).bytes(8000)


def _wav(samples):
    """The bytes of a 16-bit WAV file."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _tiled(samples, seconds):
    """`samples` repeated for `seconds`: a long clip of real speech."""
    repeats = int(np.ceil(seconds * RATE / len(samples)))
    return np.tile(samples, repeats)[: int(seconds * RATE)]
