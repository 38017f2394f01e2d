"""Tokens a decoding step may not pick: a mask over the vocabulary and the
logits it leaves (OpenAI's `suppress_tokens` and, at the first step,
`suppress_blank`)."""

import numpy as np
from keras import ops


def suppression_mask(token_ids, vocabulary_size):
    """A boolean vector over the vocabulary, true at `token_ids`."""
    mask = np.zeros((vocabulary_size,), "bool")
    mask[np.asarray(token_ids, "int64")] = True
    return ops.convert_to_tensor(mask)


def allowed_logits(logits, never, not_first, first):
    """float32 logits with `never` (and at the first step `not_first`) at -inf."""
    logits = ops.where(never[None], -np.inf, ops.cast(logits, "float32"))
    return ops.where(ops.logical_and(first, not_first)[None], -np.inf, logits)
