"""Long-form transcription with the real tiny.en weights on two minutes of
espeak-ng speech (36 sentences, 1 s apart): the whole transcript's WER
stays within 2 points of the sentences transcribed one by one, no text
repeats, and every segment boundary lies within 1 s of a true one."""

import collections

import numpy as np
import pytest

from benchmarks.long_recording import long_recording
from tests.conftest import normalize_transcript
from tests.conftest import word_error_rate
from whisper.long_form_transcriber import LongFormTranscriber

pytestmark = pytest.mark.slow

WER_MARGIN = 0.02
BOUNDARY_SECONDS = 1.0


@pytest.fixture(scope="module")
def recording():
    return long_recording(num_sentences=36, pause_seconds=1.0)


@pytest.fixture(scope="module")
def per_clip_wer(tiny_en, recording):
    clips = recording.clips
    texts = [
        text
        for start in range(0, len(clips), 8)
        for text in tiny_en.generate(clips[start : start + 8])
    ]
    return word_error_rate([text for _, _, text in recording.sentences], texts)


@pytest.fixture(scope="module")
def transcripts(tiny_en, recording):
    transcriber = LongFormTranscriber(tiny_en)
    return {
        "sequential": transcriber.transcribe(recording.waveform),
        "batched": transcriber.transcribe_batched(recording.waveform),
    }


def repeated_phrases(reference, hypothesis, words=4):
    """Phrases of `words` words the hypothesis holds more often than the reference."""

    def counts(text):
        tokens = normalize_transcript(text).split()
        return collections.Counter(
            tuple(tokens[i : i + words]) for i in range(len(tokens) - words + 1)
        )

    ours, truth = counts(hypothesis), counts(reference)
    return [phrase for phrase, n in ours.items() if n > max(truth[phrase], 1)]


def test_the_recording_is_two_minutes_of_36_sentences(recording):
    assert 110 < len(recording.waveform) / 16000 < 150
    assert len(recording.sentences) == 36


@pytest.mark.parametrize("mode", ["sequential", "batched"])
def test_whole_transcript_wer_is_within_two_points_of_per_clip(
    transcripts, recording, per_clip_wer, mode
):
    wer = word_error_rate([recording.text], [transcripts[mode].text])
    assert wer <= per_clip_wer + WER_MARGIN, (mode, wer, per_clip_wer, transcripts[mode].text)


@pytest.mark.parametrize("mode", ["sequential", "batched"])
def test_no_text_repeats(transcripts, recording, mode):
    transcript = transcripts[mode]
    assert repeated_phrases(recording.text, transcript.text) == []
    texts = [segment.text for segment in transcript.segments]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("mode", ["sequential", "batched"])
def test_every_segment_boundary_lies_within_a_second_of_a_true_one(transcripts, recording, mode):
    starts = np.array([start for start, _, _ in recording.sentences])
    ends = np.array([end for _, end, _ in recording.sentences])
    segments = transcripts[mode].segments
    assert len(segments) >= 18
    for segment in segments:
        assert np.abs(starts - segment.start).min() <= BOUNDARY_SECONDS, segment
        assert np.abs(ends - segment.end).min() <= BOUNDARY_SECONDS, segment
    assert all(a.end <= b.start + 1e-6 for a, b in zip(segments, segments[1:]))
    assert segments[-1].end <= len(recording.waveform) / 16000 + 1e-6


def test_a_long_silence_gives_no_text(tiny_en, recording):
    # Two sentences with 45 s of silence between them: the silent windows
    # are skipped or empty, and nothing is invented there.
    first, second = recording.clips[:2]
    silence = np.zeros(45 * 16000, "float32")
    waveform = np.concatenate([first, silence, second])
    transcript = LongFormTranscriber(tiny_en).transcribe(waveform)
    silent_from, silent_to = len(first) / 16000 + 1.0, (len(first) + len(silence)) / 16000 - 1.0
    inside = [s for s in transcript.segments if s.start > silent_from and s.end < silent_to]
    assert inside == [], inside
    # Both sentences are there (tiny.en mishears a few of their 16 words).
    assert len(transcript.segments) == 2, transcript.segments
    expected = " ".join(text for _, _, text in recording.sentences[:2])
    assert word_error_rate([expected], [transcript.text]) <= 0.35, transcript.text


def test_the_initial_prompt_opens_every_decoder_prompt(tiny_en):
    transcriber = LongFormTranscriber(tiny_en, initial_prompt="Kubernetes and Slurm.")
    tokenizer = tiny_en.tokenizer
    prompt = transcriber._prompt(transcriber._initial_prompt_ids(), transcriber._start_ids(None))
    hint = list(tokenizer.tokenize(" Kubernetes and Slurm."))
    assert prompt == [tokenizer.previous_text_token_id, *hint, tokenizer.bos_token_id]
