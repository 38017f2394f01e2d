"""Bad data: every kind is skipped and counted under its own reason, unusual
but valid audio is trained on, and a training run on such a corpus finishes.

The corpus is tests/bad_data_corpus.py's. One pass of the pipeline skips each
bad example once, so its counts must equal the corpus's exactly. A training
run repeats the train set (debug=fast takes 16 examples, more than it holds)
and counts the bad examples among those it consumed, not those tf.data read
ahead, so its counts are checked per reason as at least one pass's and at
most those of the passes 16 examples span; a manifest's malformed rows are
counted once per manifest, however many passes, so their counts are exact.
"""

import json
import math
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from bad_data_corpus import write_bad_data_corpus
from pipeline_settings import pipeline_settings

from data_pipelines.example_filter import SKIP_REASONS
from data_pipelines.manifest_source import ROW_SKIP_REASONS
from data_pipelines.manifest_source import ManifestSource
from data_pipelines.pipeline import build_dataset
from data_pipelines.pipeline import build_eval_examples
from data_pipelines.skip_counter import SkipCounter
from whisper.whisper_audio_converter import WhisperAudioConverter
from whisper.whisper_tokenizer import WhisperTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Holds every id a corpus skips, so that each can be checked.
ALL_IDS = 100


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, speech_clips):
    return write_bad_data_corpus(tmp_path_factory.mktemp("bad_data"), speech_clips)


@pytest.fixture(scope="module")
def tokenizer(english_tokenizer_json_path):
    return WhisperTokenizer.from_tokenizer_json(english_tokenizer_json_path)


@pytest.fixture(scope="module")
def converter():
    return WhisperAudioConverter()


def skipped_ids(counter):
    """{example id: reason} of every skip a counter kept."""
    return {
        example_id: reason
        for reason in counter.counts()
        for example_id, _ in counter.examples(reason)
    }


def trained_texts(tokenizer, batch_list):
    """The transcript of every row of every batch, sorted."""
    texts = []
    for x, targets in batch_list:
        for row_targets, mask in zip(targets, x["decoder_padding_mask"]):
            # The targets up to the mask's end: the prompt's last tokens,
            # the text and <|endoftext|>; only the text is not special.
            row_targets = row_targets[: int(mask.sum())]
            texts.append(tokenizer.detokenize(row_targets, skip_special_tokens=True).strip())
    return sorted(texts)


def test_the_corpus_holds_every_kind(corpus):
    assert len(corpus.skipped["train"]) >= 15
    # Every reason there is, but those of manifest fields with the wrong
    # type or none at all, or of CSV rows with the wrong number of them,
    # which tests/test_manifest_source.py covers.
    other_row_reasons = {
        "wrong_field_count",
        "missing_audio",
        "audio_not_a_string",
        "text_not_a_string",
        "empty_audio_path",
        "field_not_a_string",
    }
    expected = set(SKIP_REASONS) | (set(ROW_SKIP_REASONS) - other_row_reasons)
    assert set(corpus.expected_counts("train")) == expected
    assert len(corpus.unusual_ids) == 6
    assert set(corpus.unusual_ids) <= set(corpus.usable["train"])


def test_one_pass_counts_each_bad_example_under_its_reason_and_trains_on_the_rest(
    corpus, tokenizer, converter
):
    counter = SkipCounter(examples_per_reason=ALL_IDS)
    dataset = build_dataset(
        ManifestSource(corpus.train_manifest),
        tokenizer,
        converter,
        batch_size=4,
        training=False,
        skip_counter=counter,
        **pipeline_settings(build_dataset),
    )
    batch_list = list(dataset.as_numpy_iterator())
    assert counter.counts() == corpus.expected_counts("train")
    assert skipped_ids(counter) == corpus.skipped["train"]
    # Batches carry no ids; their transcripts show every usable example,
    # the unusual formats among them, was trained on once.
    assert trained_texts(tokenizer, batch_list) == sorted(
        text.strip() for text in corpus.usable["train"].values()
    )
    assert all(np.isfinite(x["encoder_features"]).all() for x, _ in batch_list)


def test_unusual_but_valid_files_give_finite_features(corpus, converter):
    evaluation = build_eval_examples(
        ManifestSource(corpus.train_manifest), converter, **pipeline_settings(build_eval_examples)
    )
    features = {example_id: features for example_id, features, _ in evaluation}
    for example_id in corpus.unusual_ids:
        assert np.isfinite(features[example_id]).all(), example_id
        # Speech, not silence: what the features hold varies.
        assert features[example_id].std() > 0.1, example_id


def test_the_eval_set_counts_each_bad_example_under_its_reason(corpus, converter):
    counter = SkipCounter(examples_per_reason=ALL_IDS)
    evaluation = build_eval_examples(
        ManifestSource(corpus.dev_manifest),
        converter,
        skip_counter=counter,
        **pipeline_settings(build_eval_examples),
    )
    assert [example_id for example_id, _, _ in evaluation] == list(corpus.usable["dev"])
    assert counter.counts() == corpus.expected_counts("dev")
    assert skipped_ids(counter) == corpus.skipped["dev"]


@pytest.mark.slow
def test_training_on_bad_data_finishes_with_finite_losses_and_counts_every_reason(corpus, tmp_path):
    run_dir = tmp_path / "run"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "data=manifest",
            f"data.train.path={corpus.train_manifest}",
            f"data.eval.path={corpus.dev_manifest}",
            "debug=fast",
            "tracker=console",
            f"run_dir={run_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    losses = re.findall(r"\| loss (\S+)", completed.stdout)
    # debug=fast logs each of its 4 steps.
    assert len(losses) == 4, completed.stdout[-3000:]
    assert all(math.isfinite(float(loss)) for loss in losses), losses
    at_least = one_pass_counts(corpus)
    # 16 examples consumed: the passes they span, and the dev set's once.
    passes = math.ceil(16 / len(corpus.usable["train"])) + 1
    at_most = {
        reason: passes * corpus.expected_counts("train").get(reason, 0)
        + corpus.expected_counts("dev").get(reason, 0)
        for reason in at_least
    }
    assert_counts_cover_one_pass(printed_skip_counts(completed.stdout), at_least, at_most)
    record = json.loads((run_dir / "run.json").read_text())
    # The one assertion on run.json: the recipe (train/__main__.py, its
    # RUN_RECORD_SUMMARY) writes `data.skipped.counts()` there as
    # "skipped_examples", {reason: count}, at the end of the run.
    assert_counts_cover_one_pass(record["skipped_examples"], at_least, at_most)


def one_pass_counts(corpus):
    """{reason: count} of one pass over train and dev together."""
    counts = dict(corpus.expected_counts("train"))
    for reason, count in corpus.expected_counts("dev").items():
        counts[reason] = counts.get(reason, 0) + count
    return counts


def printed_skip_counts(stdout):
    """{reason: count} of the recipe's "Skipped N examples: ..." line."""
    (line,) = [line for line in stdout.splitlines() if re.match(r"Skipped \d+ examples?: ", line)]
    counts = {}
    for reason in (*SKIP_REASONS, *ROW_SKIP_REASONS):
        # `SkipCounter.summary` prints "<reason> <count> (<ids: details>)".
        found = re.search(rf"(?<![\w-]){reason} (\d+) \(", line)
        if found:
            counts[reason] = int(found.group(1))
    # No reason left out: the printed total is the sum of those found.
    assert f"Skipped {sum(counts.values())} examples:" in line, line
    return counts


def assert_counts_cover_one_pass(counts, one_pass, at_most):
    """The same reasons as one pass; rows exactly, examples at least once a
    pass and at most `at_most`."""
    assert set(counts) == set(one_pass), (counts, one_pass)
    for reason, count in one_pass.items():
        if reason in ROW_SKIP_REASONS:
            assert counts[reason] == count, (reason, counts)
        else:
            assert count <= counts[reason] <= at_most[reason], (reason, counts, at_most)
