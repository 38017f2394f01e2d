"""Whisper speech recognition in Keras 3, interchangeable with keras_hub's."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
