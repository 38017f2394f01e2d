"""Whisper speech recognition in Keras 3, interchangeable with keras_hub's.

`from whisper import WhisperAudioToText` (or `WhisperBackbone`,
`WhisperTokenizer`, `WhisperAudioConverter`) imports the class, and Keras
with it, on first use: `import whisper.special_tokens` or
`whisper.whisper_presets` stays free of TensorFlow, so configuration can be
checked before it starts.
"""

import os

# The model library is written against Keras 3 on TensorFlow; honour a backend
# the user chose, default to TensorFlow otherwise.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from whisper.utils.lazy_exports import lazy_exports  # noqa: E402

_EXPORTS = {
    "WhisperAudioConverter": "whisper.whisper_audio_converter",
    "WhisperAudioToText": "whisper.whisper_audio_to_text",
    "WhisperBackbone": "whisper.whisper_backbone",
    "WhisperTokenizer": "whisper.whisper_tokenizer",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
