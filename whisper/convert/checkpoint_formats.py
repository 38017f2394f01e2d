"""Which checkpoint format a directory holds, and how to read it.

A preset directory may hold keras_hub's format (read by the classes
themselves), a Hugging Face transformers checkpoint or a CTranslate2
(faster-whisper) model; `detect_format` tells which from its files, and
`read_imported_checkpoint` reads a foreign one into an `ImportedCheckpoint`.

Example:

```python
from whisper.convert.checkpoint_formats import CHECKPOINT_FORMATS

[checkpoint_format.name for checkpoint_format in CHECKPOINT_FORMATS]
# ['keras_hub', 'transformers', 'ctranslate2']
```
"""

import dataclasses
from collections.abc import Callable

from whisper.convert.ctranslate2_reader import is_ctranslate2_model
from whisper.convert.ctranslate2_reader import read_ctranslate2_model
from whisper.convert.transformers_reader import is_transformers_checkpoint
from whisper.convert.transformers_reader import read_transformers_checkpoint
from whisper.preset_io import PresetError
from whisper.preset_io import is_keras_hub_preset
from whisper.preset_io import refuse_unsafe_files


@dataclasses.dataclass(frozen=True)
class CheckpointFormat:
    """A checkpoint format: how to recognize a directory of it, how to read it.

    Attributes:
        name: short name.
        description: what a directory of this format holds, for messages.
        detect: directory -> bool.
        read: directory -> `ImportedCheckpoint`; None for keras_hub's format,
            which the model classes read themselves.
    """

    name: str
    description: str
    detect: Callable
    read: Callable | None


CHECKPOINT_FORMATS = (
    CheckpointFormat(
        "keras_hub",
        "a keras_hub preset (config.json with a registered_name)",
        is_keras_hub_preset,
        None,
    ),
    CheckpointFormat(
        "transformers",
        "a Hugging Face transformers Whisper checkpoint (config.json with model_type 'whisper')",
        is_transformers_checkpoint,
        read_transformers_checkpoint,
    ),
    CheckpointFormat(
        "ctranslate2",
        "a CTranslate2 model (model.bin)",
        is_ctranslate2_model,
        read_ctranslate2_model,
    ),
)


def detect_format(directory):
    """The `CheckpointFormat` of `directory`; a `PresetError` if none fits.

    A directory holding only pickles (pytorch_model.bin, *.pt) gets an
    `UnsafePresetError` that names them: they are never unpickled.
    """
    for checkpoint_format in CHECKPOINT_FORMATS:
        if checkpoint_format.detect(directory):
            return checkpoint_format
    kinds = ", ".join(checkpoint_format.description for checkpoint_format in CHECKPOINT_FORMATS)
    refuse_unsafe_files(directory, kinds)
    raise PresetError(f"'{directory}' holds none of the checkpoint formats read here: {kinds}.")


def read_imported_checkpoint(directory):
    """The foreign checkpoint in `directory`, or None for a keras_hub preset."""
    checkpoint_format = detect_format(directory)
    return None if checkpoint_format.read is None else checkpoint_format.read(directory)
