"""TimestampRules: which tokens may come next when decoding with timestamps.

Whisper marks segments with timestamp tokens `<|0.00|>`, `<|0.02|>`, ...
(one per 20 ms, an encoder position), which follow `<|notimestamps|>` in the
vocabulary. A transcript with timestamps reads
`<|0.00|> text <|2.40|><|2.40|> text <|4.10|><|endoftext|>`, and decoding keeps
it well formed, as OpenAI's decoder does:

* the first token is a timestamp, at most `max_initial_timestamp` seconds in;
* timestamps come in pairs: after one that closes a segment comes another
  that opens the next (or the end), and after an opening one, text;
* timestamps never decrease, and a segment has a nonzero length;
* when the timestamps together are likelier than any single text token, a
  timestamp comes next.

The rules read a small state per row (`initial_state`, `update`) rather
than the tokens decoded so far, so the decoding loop keeps static shapes and
compiles with XLA.

Example:

```python
import numpy as np
from whisper.timestamp_rules import TimestampRules

rules = TimestampRules(end_of_text_id=3, timestamp_begin_id=5, vocabulary_size=10)
state = rules.initial_state(batch_size=1)
logits = rules.filter(np.zeros((1, 10), "float32"), state)
np.isfinite(logits)[0].tolist()  # a timestamp first: ids 5 to 9
```
"""

import numpy as np
from keras import ops

from whisper.special_tokens import SECONDS_PER_TIMESTAMP

# OpenAI's bound on the first timestamp of a window, in seconds.
MAX_INITIAL_TIMESTAMP = 1.0


class TimestampRules:
    """Masks logits so that decoded timestamps follow Whisper's format.

    Args:
        end_of_text_id: id of `<|endoftext|>`; ids below it are text.
        timestamp_begin_id: id of `<|0.00|>`; it and every id above it are
            timestamps.
        vocabulary_size: number of logits.
        max_initial_timestamp: latest first timestamp, in seconds; None for
            no bound.
    """

    def __init__(
        self,
        end_of_text_id,
        timestamp_begin_id,
        vocabulary_size,
        max_initial_timestamp=MAX_INITIAL_TIMESTAMP,
    ):
        self.end_of_text_id = end_of_text_id
        self.timestamp_begin_id = timestamp_begin_id
        self.vocabulary_size = vocabulary_size
        self.max_initial_timestamp = max_initial_timestamp
        ids = np.arange(vocabulary_size)
        self._is_timestamp = ids >= timestamp_begin_id
        self._is_text = ids < end_of_text_id
        last_initial = vocabulary_size
        if max_initial_timestamp is not None:
            last_initial = timestamp_begin_id + round(max_initial_timestamp / SECONDS_PER_TIMESTAMP)
        self._allowed_first = self._is_timestamp & (ids <= last_initial)

    def initial_state(self, batch_size):
        """Per row: tokens decoded, whether the last and the one before were
        timestamps, and the last timestamp id (-1 before any)."""
        return {
            "decoded": ops.zeros((batch_size,), "int32"),
            "last_is_timestamp": ops.zeros((batch_size,), "bool"),
            "penultimate_is_timestamp": ops.ones((batch_size,), "bool"),
            "last_timestamp": ops.full((batch_size,), -1, "int32"),
        }

    def update(self, state, token):
        """The state after each row decoded `token` (batch,)."""
        is_timestamp = token >= self.timestamp_begin_id
        return {
            "decoded": state["decoded"] + 1,
            # With fewer than two tokens there is no penultimate text token:
            # a first timestamp opens a segment.
            "penultimate_is_timestamp": ops.where(
                state["decoded"] > 0, state["last_is_timestamp"], True
            ),
            "last_is_timestamp": is_timestamp,
            "last_timestamp": ops.where(is_timestamp, token, state["last_timestamp"]),
        }

    def filter(self, logits, state):
        """`logits` (batch, vocabulary) with forbidden tokens at -inf."""
        logits = ops.cast(logits, "float32")
        is_timestamp = ops.convert_to_tensor(self._is_timestamp)[None]
        is_text = ops.convert_to_tensor(self._is_text)[None]
        first = (state["decoded"] == 0)[:, None]
        last_is_timestamp = state["last_is_timestamp"][:, None]
        penultimate_is_timestamp = state["penultimate_is_timestamp"][:, None]
        opens_segment = ops.logical_and(
            last_is_timestamp, ops.logical_not(penultimate_is_timestamp)
        )
        after_pair = ops.logical_and(last_is_timestamp, penultimate_is_timestamp)
        # A timestamp that closed a segment may repeat to open the next one;
        # any other must lie later, so that no segment is empty.
        earliest = state["last_timestamp"] + ops.where(opens_segment[:, 0], 0, 1)
        too_early = ops.logical_and(
            is_timestamp, ops.arange(self.vocabulary_size)[None] < earliest[:, None]
        )
        forbidden = ops.logical_or(
            ops.logical_and(after_pair, is_timestamp), ops.logical_and(opens_segment, is_text)
        )
        forbidden = ops.logical_or(forbidden, too_early)
        allowed_first = ops.convert_to_tensor(self._allowed_first)[None]
        forbidden = ops.where(first, ops.logical_not(allowed_first), forbidden)
        logits = ops.where(forbidden, -np.inf, logits)
        text_is_forbidden = ops.logical_and(
            self._timestamp_is_likelier(logits)[:, None], ops.logical_not(is_timestamp)
        )
        return ops.where(text_is_forbidden, -np.inf, logits)

    def _timestamp_is_likelier(self, logits):
        """Per row: all timestamps together outweigh the likeliest other token."""
        log_probs = ops.log_softmax(logits, axis=-1)
        is_timestamp = ops.convert_to_tensor(self._is_timestamp)[None]
        timestamp = ops.logsumexp(ops.where(is_timestamp, log_probs, -np.inf), axis=-1)
        other = ops.max(ops.where(is_timestamp, -np.inf, log_probs), axis=-1)
        return timestamp > other
