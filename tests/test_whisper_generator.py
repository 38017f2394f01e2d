"""WhisperGenerator: beam search, sampling, timestamps and language detection,
with the real tiny.en weights on the committed espeak-ng clips, against
transformers where it decodes the same way."""

import keras
import numpy as np
import pytest

from whisper.audio_io import load_audio
from whisper.whisper_audio_to_text import WhisperAudioToText
from whisper.whisper_backbone import WhisperBackbone
from whisper.whisper_tokenizer import WhisperTokenizer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip_features(tiny_en, speech_clips):
    """Features of the eight committed clips, in 30 s windows."""
    waveforms = [load_audio(path) for path, _ in speech_clips]
    return np.asarray(tiny_en.audio_converter(_padded(waveforms)))


def _padded(waveforms):
    batch = np.zeros((len(waveforms), max(len(w) for w in waveforms)), "float32")
    for row, waveform in zip(batch, waveforms):
        row[: len(waveform)] = waveform
    return batch


def ranking_scores(result):
    """OpenAI's ranking without a length penalty: log-probability per token."""
    lengths = np.array([len(ids) for ids in result.token_ids], "float32")
    return result.sum_log_probs / lengths


def test_one_beam_gives_exactly_greedys_tokens(tiny_en, clip_features):
    prompt = tiny_en.decoder_prompt_ids()
    greedy = tiny_en.generator.decode(clip_features, prompt, max_new_tokens=64)
    beam = tiny_en.generator.decode(clip_features, prompt, max_new_tokens=64, beam_size=1)
    for greedy_ids, beam_ids in zip(greedy.token_ids, beam.token_ids):
        np.testing.assert_array_equal(beam_ids, greedy_ids)
    np.testing.assert_allclose(beam.sum_log_probs, greedy.sum_log_probs, rtol=1e-5)
    assert greedy.finished.all() and beam.finished.all()


def test_wider_beams_never_score_below_greedy(tiny_en, clip_features, speech_clips):
    prompt = tiny_en.decoder_prompt_ids()
    greedy = tiny_en.generator.decode(clip_features, prompt, max_new_tokens=64)
    beam = tiny_en.generator.decode(
        clip_features, prompt, max_new_tokens=64, beam_size=5, patience=2.0
    )
    assert (ranking_scores(beam) >= ranking_scores(greedy) - 1e-5).all()
    texts = tiny_en.tokenizer.detokenize([list(ids) for ids in beam.token_ids])
    from tests.conftest import word_error_rate

    assert word_error_rate([text for _, text in speech_clips], texts) <= 0.12


def test_the_length_penalty_only_ranks_the_same_candidates(tiny_en, clip_features):
    prompt = tiny_en.decoder_prompt_ids()

    def decode(length_penalty):
        return tiny_en.generator.decode(
            clip_features, prompt, max_new_tokens=48, beam_size=4, length_penalty=length_penalty
        )

    per_token, total = decode(None), decode(0.0)  # alpha 0: no length penalty at all
    assert per_token.finished.all() and total.finished.all()
    # Both choose among the same ended candidates: one the best total, the
    # other the best log-probability per token.
    assert (total.sum_log_probs >= per_token.sum_log_probs - 1e-5).all()
    assert (ranking_scores(per_token) >= ranking_scores(total) - 1e-5).all()


def test_sampling_is_seeded_and_near_zero_temperature_is_greedy(tiny_en, clip_features):
    prompt = tiny_en.decoder_prompt_ids()
    greedy = tiny_en.generator.decode(clip_features, prompt, max_new_tokens=48)
    cold = tiny_en.generator.decode(clip_features, prompt, max_new_tokens=48, temperature=1e-4)
    for greedy_ids, cold_ids in zip(greedy.token_ids, cold.token_ids):
        np.testing.assert_array_equal(cold_ids, greedy_ids)
    hot = [
        tiny_en.generator.decode(clip_features, prompt, max_new_tokens=48, temperature=1.5, seed=s)
        for s in (7, 7, 8)
    ]
    for first, again in zip(hot[0].token_ids, hot[1].token_ids):
        np.testing.assert_array_equal(first, again)
    assert any(
        len(a) != len(b) or (a != b).any() for a, b in zip(hot[0].token_ids, hot[2].token_ids)
    )


def test_timestamped_decoding_equals_transformers(tiny_en, clip_features, tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    tiny_en.save_to_transformers(str(tmp_path))
    reference = transformers.WhisperForConditionalGeneration.from_pretrained(str(tmp_path)).eval()
    tokenizer = tiny_en.tokenizer
    prompt = tokenizer.decoder_prompt_ids(timestamps=True)
    ours = tiny_en.generator.decode(clip_features, prompt, max_new_tokens=96, timestamps=True)
    with torch.no_grad():
        theirs = reference.generate(
            torch.from_numpy(np.array(clip_features.transpose(0, 2, 1))),
            return_timestamps=True,
            max_new_tokens=96,
        )
    # transformers returns the generated ids alone, rows padded with end of text.
    begin = tokenizer.timestamp_begin_id
    for our_ids, their_row in zip(ours.token_ids, theirs.numpy()):
        their_ids = their_row[their_row != tokenizer.eos_token_id]
        np.testing.assert_array_equal(our_ids, their_ids)
        # Well formed: starts with a timestamp, which never decrease.
        timestamps = our_ids[our_ids >= begin]
        assert our_ids[0] >= begin and (np.diff(timestamps) >= 0).all()


@pytest.fixture(scope="module")
def multilingual_model(multilingual_keras_hub_assets):
    keras.utils.set_random_seed(5)
    tokenizer = WhisperTokenizer(**multilingual_keras_hub_assets)
    backbone = WhisperBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_encoder_sequence_length=100,
        max_decoder_sequence_length=32,
    )
    return WhisperAudioToText(backbone, tokenizer=tokenizer, language="fr")


def test_language_probabilities_are_the_language_tokens_after_start(multilingual_model):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3, 100, 80)).astype("float32")
    detected = multilingual_model.detect_language(features)
    tokenizer = multilingual_model.tokenizer
    start = np.full((3, 1), tokenizer.bos_token_id, "int32")
    logits = np.asarray(
        multilingual_model(
            {
                "encoder_features": features,
                "decoder_token_ids": start,
                "decoder_padding_mask": np.ones_like(start),
            }
        )
    )[:, 0].astype("float64")
    codes = tokenizer.language_codes()
    language_logits = logits[:, [tokenizer.language_token_id(code) for code in codes]]
    expected = np.exp(language_logits - language_logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    for row, probabilities in zip(expected, detected):
        assert list(probabilities) == codes
        np.testing.assert_allclose([probabilities[c] for c in codes], row, atol=1e-5)


def test_english_only_models_detect_english(tiny_en, clip_features):
    assert tiny_en.detect_language(clip_features[:2]) == [{"en": 1.0}, {"en": 1.0}]
