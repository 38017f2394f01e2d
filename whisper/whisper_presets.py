"""The built-in Whisper presets: architectures, parameter counts and handles.

The ten keras_hub presets carry keras_hub's Kaggle handles. Parameter counts are
the true counts (keras_hub's own metadata misstates two of them). Two more
architectures, large-v3 (128 mel bins) and large-v3-turbo (4 decoder layers),
are published only as Hugging Face transformers checkpoints.
"""

ARCHITECTURE_DEFAULTS = {
    "num_mels": 80,
    "dropout": 0.0,
    "max_encoder_sequence_length": 3000,
    "max_decoder_sequence_length": 448,
}


def _builtin(name, description, params, hf_handle=None, **architecture):
    if hf_handle:
        source = {"hf_handle": hf_handle}
    else:
        source = {"kaggle_handle": f"kaggle://keras/whisper/keras/{name}/4"}
    return {
        "metadata": {
            "description": description,
            "params": params,
            "path": "whisper",
        },
        **source,
        "config": {**ARCHITECTURE_DEFAULTS, **architecture},
    }


backbone_presets = {
    "whisper_tiny_en": _builtin(
        "whisper_tiny_en",
        description="4-layer Whisper model trained on 438,000 hours of labelled English speech.",
        params=37760256,
        vocabulary_size=51864,
        num_layers=4,
        num_heads=6,
        hidden_dim=384,
        intermediate_dim=1536,
    ),
    "whisper_base_en": _builtin(
        "whisper_base_en",
        description="6-layer Whisper model trained on 438,000 hours of labelled English speech.",
        params=72593408,
        vocabulary_size=51864,
        num_layers=6,
        num_heads=8,
        hidden_dim=512,
        intermediate_dim=2048,
    ),
    "whisper_small_en": _builtin(
        "whisper_small_en",
        description="12-layer Whisper model trained on 438,000 hours of labelled English speech.",
        params=241734144,
        vocabulary_size=51864,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        intermediate_dim=3072,
    ),
    "whisper_medium_en": _builtin(
        "whisper_medium_en",
        description="24-layer Whisper model trained on 438,000 hours of labelled English speech.",
        params=763856896,
        vocabulary_size=51864,
        num_layers=24,
        num_heads=16,
        hidden_dim=1024,
        intermediate_dim=4096,
    ),
    "whisper_tiny_multi": _builtin(
        "whisper_tiny_multi",
        description="4-layer Whisper model trained on 680,000 hours of labelled multilingual speech.",
        params=37760640,
        vocabulary_size=51865,
        num_layers=4,
        num_heads=6,
        hidden_dim=384,
        intermediate_dim=1536,
    ),
    "whisper_base_multi": _builtin(
        "whisper_base_multi",
        description="6-layer Whisper model trained on 680,000 hours of labelled multilingual speech.",
        params=72593920,
        vocabulary_size=51865,
        num_layers=6,
        num_heads=8,
        hidden_dim=512,
        intermediate_dim=2048,
    ),
    "whisper_small_multi": _builtin(
        "whisper_small_multi",
        description="12-layer Whisper model trained on 680,000 hours of labelled multilingual speech.",
        params=241734912,
        vocabulary_size=51865,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        intermediate_dim=3072,
    ),
    "whisper_medium_multi": _builtin(
        "whisper_medium_multi",
        description="24-layer Whisper model trained on 680,000 hours of labelled multilingual speech.",
        params=763857920,
        vocabulary_size=51865,
        num_layers=24,
        num_heads=16,
        hidden_dim=1024,
        intermediate_dim=4096,
    ),
    "whisper_large_multi": _builtin(
        "whisper_large_multi",
        description="32-layer Whisper model trained on 680,000 hours of labelled multilingual speech.",
        params=1543304960,
        vocabulary_size=51865,
        num_layers=32,
        num_heads=20,
        hidden_dim=1280,
        intermediate_dim=5120,
    ),
    "whisper_large_multi_v2": _builtin(
        "whisper_large_multi_v2",
        description="32-layer Whisper model trained on 680,000 hours of labelled multilingual speech for 2.5 epochs; an improved whisper_large_multi.",
        params=1543304960,
        vocabulary_size=51865,
        num_layers=32,
        num_heads=20,
        hidden_dim=1280,
        intermediate_dim=5120,
    ),
    "whisper_large_multi_v3": _builtin(
        "whisper_large_multi_v3",
        description="32-layer Whisper large-v3 model with 128 mel bins, trained "
        "on 5 million hours of weakly labelled multilingual speech.",
        params=1543490560,
        hf_handle="hf://openai/whisper-large-v3",
        vocabulary_size=51866,
        num_layers=32,
        num_heads=20,
        hidden_dim=1280,
        intermediate_dim=5120,
        num_mels=128,
    ),
    "whisper_large_multi_v3_turbo": _builtin(
        "whisper_large_multi_v3_turbo",
        description="Whisper large-v3-turbo: the large-v3 encoder (32 layers) "
        "with a 4-layer decoder fine-tuned for fast decoding.",
        params=808878080,
        hf_handle="hf://openai/whisper-large-v3-turbo",
        vocabulary_size=51866,
        num_layers=32,
        num_decoder_layers=4,
        num_heads=20,
        hidden_dim=1280,
        intermediate_dim=5120,
        num_mels=128,
    ),
}
