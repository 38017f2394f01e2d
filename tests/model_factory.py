"""Small random-weight models for tests, made one way.

`tiny_backbone` gives a one-layer backbone of hidden width 16 whose
arguments a test overrides where it needs to (a vocabulary, a depth,
dropout, sequence lengths); `tiny_task` wraps one in `WhisperAudioToText`.
With `seed`, the weights are those of that seed, the same on every run.
"""

import keras

from whisper import WhisperAudioToText
from whisper import WhisperBackbone
from whisper.special_tokens import ENGLISH_ONLY_VOCABULARY_SIZE

ONE_LAYER = {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32}


def tiny_backbone(vocabulary_size=ENGLISH_ONLY_VOCABULARY_SIZE, *, seed=None, **architecture):
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return WhisperBackbone(vocabulary_size=vocabulary_size, **{**ONE_LAYER, **architecture})


def tiny_task(vocabulary_size=ENGLISH_ONLY_VOCABULARY_SIZE, *, seed=None, **architecture):
    return WhisperAudioToText(tiny_backbone(vocabulary_size, seed=seed, **architecture))
