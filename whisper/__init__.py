"""Whisper speech recognition in Keras 3, interchangeable with keras_hub's."""

import os

# The model library is written against Keras 3 on TensorFlow; honour a backend
# the user chose, default to TensorFlow otherwise.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from whisper.whisper_audio_converter import WhisperAudioConverter  # noqa: E402
from whisper.whisper_audio_to_text import WhisperAudioToText  # noqa: E402
from whisper.whisper_backbone import WhisperBackbone  # noqa: E402
from whisper.whisper_tokenizer import WhisperTokenizer  # noqa: E402

__all__ = [
    "WhisperAudioConverter",
    "WhisperAudioToText",
    "WhisperBackbone",
    "WhisperTokenizer",
]
