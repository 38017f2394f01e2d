"""Checkpoints of other ecosystems, read into what our classes are built from.

A preset directory may hold keras_hub's format (read by the classes
themselves), a Hugging Face transformers checkpoint, or a CTranslate2
(faster-whisper) model. The importers turn the last two into an
`ImportedCheckpoint`: the backbone's constructor arguments, its weights as
keras_hub dataset paths (so one loader checks and assigns every format), the
tokenizer, and generation settings.
"""

import dataclasses
import os

from whisper import preset_io


@dataclasses.dataclass
class ImportedCheckpoint:
    """A foreign checkpoint in our terms.

    Attributes:
        backbone_config: `WhisperBackbone` constructor arguments.
        arrays: {keras_hub dataset path: numpy array}, in keras_hub's shapes
            (see `whisper_weights.keras_hub_arrays`).
        tokenizer: a `WhisperTokenizer`, or None when the checkpoint has none.
        generation: `WhisperAudioToText` settings (`language`, `task`,
            `suppress_tokens`, `begin_suppress_tokens`) the checkpoint states.
        source: the directory, for messages.
    """

    backbone_config: dict
    arrays: dict
    tokenizer: object
    generation: dict
    source: str


def read_imported_checkpoint(preset_dir):
    """The checkpoint in `preset_dir` if it is not in keras_hub's format, else None."""
    if _is_keras_hub_preset(preset_dir):
        return None
    # Imported here: the importers need the tokenizer, which needs this module.
    from whisper import ctranslate2_checkpoint
    from whisper import transformers_checkpoint

    if transformers_checkpoint.is_transformers_checkpoint(preset_dir):
        return transformers_checkpoint.read_transformers_checkpoint(preset_dir)
    if ctranslate2_checkpoint.is_ctranslate2_model(preset_dir):
        return ctranslate2_checkpoint.read_ctranslate2_model(preset_dir)
    raise preset_io.PresetError(
        f"'{preset_dir}' is neither a keras_hub preset (config.json with a "
        f"registered_name), a Hugging Face transformers Whisper checkpoint "
        f"(config.json with model_type 'whisper') nor a CTranslate2 model "
        f"(model.bin)."
    )


def _is_keras_hub_preset(preset_dir):
    config_path = os.path.join(preset_dir, preset_io.CONFIG_FILE)
    if not os.path.exists(config_path):
        return False
    return "registered_name" in preset_io.read_json(config_path)
