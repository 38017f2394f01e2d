"""`ImportedCheckpoint`: a foreign checkpoint in the terms our classes are built from.

The importers (`transformers_reader`, `ctranslate2_reader`) read their format
into one of these: the backbone's constructor arguments, its weights as
keras_hub dataset paths (so one loader checks and assigns every format), the
tokenizer and the generation settings the checkpoint states.
"""

import dataclasses
import os

from whisper.convert.tokenizer_files import HF_TOKENIZER_FILE
from whisper.whisper_tokenizer import WhisperTokenizer


@dataclasses.dataclass
class ImportedCheckpoint:
    """A foreign checkpoint in our terms.

    Attributes:
        backbone_config: `WhisperBackbone` constructor arguments.
        arrays: {keras_hub dataset path: numpy array}, in keras_hub's shapes
            (see `keras_hub_layout`); a mapping that may read each on demand.
        tokenizer: a `WhisperTokenizer`, or None when the checkpoint has none.
        generation: `WhisperAudioToText` settings (`language`, `task`,
            `suppress_tokens`, `begin_suppress_tokens`) the checkpoint states.
        source: what the checkpoint is, for messages.
    """

    backbone_config: dict
    arrays: object
    tokenizer: object
    generation: dict
    source: str


def read_tokenizer_json(directory):
    """The tokenizer of `directory`'s Hugging Face tokenizer.json, or None."""
    path = os.path.join(directory, HF_TOKENIZER_FILE)
    if not os.path.isfile(path):
        return None
    return WhisperTokenizer.from_tokenizer_json(path)
