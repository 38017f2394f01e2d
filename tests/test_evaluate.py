"""Whisper's normalization, error rates, and evaluation of the real tiny.en."""

import numpy as np
import pytest

from train.evaluate import error_rates
from train.evaluate import evaluate
from train.evaluate import pad_batch
from train.evaluate import text_normalizer
from whisper.audio_io import load_audio
from whisper.whisper_audio_converter import ALL_SILENT_VALUE
from whisper.whisper_audio_converter import WhisperAudioConverter


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("Hello,   World!", "hello world"),
        ("Hmm, the colour [laughs] is (inaudible) grey.", "the color is gray"),
        ("Uh, um, I won't go.", "i will not go"),
        ("Twenty one apples and one hundred pears", "21 apples and 100 pears"),
        ("It costs five dollars and fifty cents", "it costs $5.50"),
        ("twenty percent", "20%"),
        ("the nineteen sixties", "the 1960s"),
        ("Mr. Smith organised it", "mister smith organized it"),
    ],
)
def test_english_normalizer(text, normalized):
    assert text_normalizer()(text) == normalized
    assert text_normalizer("en")(text) == normalized


def test_other_languages_get_the_basic_normalizer():
    normalize = text_normalizer("fr")
    # No number rules; jiwer ignores the stray spaces it leaves.
    assert normalize("Vingt-et-un Élèves [rires], (bruit) d'accord!").split() == (
        "vingt et un élèves d accord".split()
    )


def test_error_rates_of_known_pairs():
    identity = lambda text: text  # noqa: E731
    wer, cer = error_rates(["the cat sat", "hello world"], ["the cat sit", "hello"], identity)
    # 1 substitution + 1 deletion over 5 words; 1 substituted and 6 deleted
    # characters (" world") over 22.
    assert wer == pytest.approx(2 / 5)
    assert cer == pytest.approx(7 / 22)


def test_error_rates_are_scored_after_normalization():
    wer, cer = error_rates(["Twenty-one colours, please!"], ["21 colors please"], text_normalizer())
    assert (wer, cer) == (0.0, 0.0)


def test_a_reference_that_normalizes_to_nothing_counts_insertions():
    wer, _ = error_rates(["(applause)", "yes"], ["thank you", "yes"], text_normalizer())
    assert wer == pytest.approx(2 / 1)


def test_padding_with_silence_matches_converting_with_trailing_zeros(speech_clips):
    audio = load_audio(speech_clips[0][0])
    clip = np.asarray(WhisperAudioConverter(pad_to_max_audio_length=False)(audio))
    full = np.asarray(WhisperAudioConverter()(audio))
    padded = pad_batch([clip, full], batch_size=2)[0]
    # Only the frame whose window straddles the clip's end can differ.
    boundary = len(clip)
    np.testing.assert_allclose(padded[:boundary], full[:boundary], atol=1e-5)
    np.testing.assert_allclose(padded[boundary + 1 :], full[boundary + 1 :], atol=1e-5)


def test_a_short_batch_is_filled_with_silent_rows():
    clips = [np.ones((4, 3), "float32"), np.ones((6, 3), "float32")]
    batch = pad_batch(clips, batch_size=3)
    assert batch.shape == (3, 6, 3)
    np.testing.assert_array_equal(batch[2], ALL_SILENT_VALUE)


def test_evaluate_rejects_empty_input_and_bad_batch_sizes(tiny_en):
    with pytest.raises(ValueError, match="no examples"):
        evaluate(tiny_en, [], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(tiny_en, [("a", np.zeros((3000, 80)), "a")], batch_size=0)


@pytest.mark.slow
def test_tiny_en_on_the_speech_clips(tiny_en, speech_clips):
    examples = [
        (path.rsplit("/", 1)[-1], tiny_en.audio_converter(load_audio(path)), text)
        for path, text in speech_clips
    ]
    # 3 per batch: the last batch of 2 is filled to 3 and compiles no more.
    result = evaluate(tiny_en, examples, batch_size=3, max_length=48)

    assert result.num_examples == len(speech_clips) == 8
    assert [row[0] for row in result.predictions] == [e[0] for e in examples]
    assert [row[1] for row in result.predictions] == [e[2] for e in examples]
    # Measured: 7 word errors in 72 ("quick roundfark stump ... nog",
    # "marks" for "bought", "a" for "an", a dropped "a"); the other four
    # clips are exact. A tolerance of about a word for other CPUs.
    assert result.wer == pytest.approx(7 / 72, abs=0.03)
    assert result.cer < 0.1
    assert result.predictions[1][2] == "Please call me back when you get home tonight."
