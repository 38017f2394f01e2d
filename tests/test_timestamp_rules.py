"""TimestampRules against transformers' WhisperTimeStampLogitsProcessor."""

import numpy as np
import pytest

from whisper.timestamp_rules import TimestampRules

END_OF_TEXT = 20
NO_TIMESTAMPS = 25
TIMESTAMP_BEGIN = 26
VOCABULARY = 100  # timestamps 26..99: 0.00 to 1.46 s
MAX_INITIAL_INDEX = 50  # 1.0 s


def rules():
    return TimestampRules(END_OF_TEXT, TIMESTAMP_BEGIN, VOCABULARY, max_initial_timestamp=1.0)


def state_after(history):
    rule = rules()
    state = rule.initial_state(1)
    for token in history:
        state = rule.update(state, np.array([token], "int32"))
    return state


def allowed(history, logits):
    return np.isfinite(np.asarray(rules().filter(logits[None], state_after(history))))[0]


def test_the_first_token_is_a_timestamp_of_at_most_one_second():
    mask = allowed([], np.zeros(VOCABULARY, "float32"))
    assert np.flatnonzero(mask).tolist() == list(range(TIMESTAMP_BEGIN, TIMESTAMP_BEGIN + 51))


def test_text_follows_an_opening_timestamp_and_a_timestamp_follows_closing_text():
    logits = np.zeros(VOCABULARY, "float32")
    # After <|0.10|>: text, or end of text; no timestamp.
    after_open = allowed([TIMESTAMP_BEGIN + 5], logits)
    assert after_open[:TIMESTAMP_BEGIN].sum() > 0 and not after_open[TIMESTAMP_BEGIN:].any()
    # After <|0.10|> text <|0.50|>: no text; the same 0.50 (opening the next
    # segment), any later timestamp, or end of text (when likely enough not
    # to lose to the timestamps' joint probability).
    logits[END_OF_TEXT] = 10.0
    after_close = allowed([TIMESTAMP_BEGIN + 5, 3, TIMESTAMP_BEGIN + 25], logits)
    assert not after_close[:END_OF_TEXT].any() and after_close[END_OF_TEXT]
    assert np.flatnonzero(after_close[TIMESTAMP_BEGIN:]).min() == 25


def test_timestamps_never_decrease_and_segments_are_not_empty():
    logits = np.zeros(VOCABULARY, "float32")
    # Inside a segment opened at 0.50, its end lies after 0.50.
    inside = allowed(
        [TIMESTAMP_BEGIN + 5, 3, TIMESTAMP_BEGIN + 25, TIMESTAMP_BEGIN + 25, 4], logits
    )
    assert np.flatnonzero(inside[TIMESTAMP_BEGIN:]).min() == 26


def test_likely_timestamps_together_forbid_text():
    logits = np.zeros(VOCABULARY, "float32")
    logits[3] = 3.0  # one text token likelier than the timestamps together...
    logits[TIMESTAMP_BEGIN:] = -5.0
    history = [TIMESTAMP_BEGIN, 5]
    assert allowed(history, logits)[3]
    logits[TIMESTAMP_BEGIN:] = 1.0  # ...until each of 73 is a third as likely
    assert not allowed(history, logits)[:TIMESTAMP_BEGIN].any()


def transformers_mask(histories, logits):
    torch = pytest.importorskip("torch")
    from transformers import GenerationConfig
    from transformers.generation.logits_process import WhisperTimeStampLogitsProcessor

    config = GenerationConfig(
        no_timestamps_token_id=NO_TIMESTAMPS,
        eos_token_id=END_OF_TEXT,
        max_initial_timestamp_index=MAX_INITIAL_INDEX,
    )
    prompt = [21, 22]  # <|startoftranscript|> <|en|>: begin_index 2
    processor = WhisperTimeStampLogitsProcessor(config, begin_index=len(prompt))
    masks = []
    for history, row in zip(histories, logits):
        ids = torch.tensor([prompt + history])
        scores = processor(ids, torch.tensor(row[None]))
        masks.append(torch.isfinite(scores)[0].numpy())
    return np.stack(masks)


def random_history(rng):
    """Token histories as decoding with the rules could give them."""
    rule, state, history = rules(), rules().initial_state(1), []
    for _ in range(rng.integers(0, 12)):
        logits = rng.normal(size=(1, VOCABULARY)).astype("float32") * 3
        logits[0, END_OF_TEXT:TIMESTAMP_BEGIN] = -np.inf
        masked = np.asarray(rule.filter(logits, state))
        token = int(np.argmax(masked[0] + rng.gumbel(size=VOCABULARY)))
        if token == END_OF_TEXT:
            break
        history.append(token)
        state = rule.update(state, np.array([token], "int32"))
    return history


@pytest.mark.slow
def test_masks_equal_transformers_processor_on_random_histories():
    rng = np.random.default_rng(0)
    histories = [random_history(rng) for _ in range(200)]
    logits = rng.normal(size=(200, VOCABULARY)).astype("float32") * 3
    # The special tokens between end of text and the timestamps are never
    # generated (the decoder masks them before the rules).
    logits[:, END_OF_TEXT + 1 : TIMESTAMP_BEGIN] = -np.inf
    # Some rows favour timestamps, to exercise the probability-mass rule.
    logits[::3, TIMESTAMP_BEGIN:] += 2.0
    ours = np.stack([allowed(h, row) for h, row in zip(histories, logits)])
    assert {len(h) for h in histories} >= {0, 1, 2, 5}
    np.testing.assert_array_equal(ours, transformers_mask(histories, logits))
