"""Builds the WhisperAudioToText a run trains, from the `model` config group.

The model is built once, as it will be exported: its dtype policy and its
audio converter (30 s or clip-length features, as the data group says) are
given at construction, so the trained model, its evaluation and its preset
agree.
"""

import os

import keras

from whisper import WhisperAudioConverter
from whisper import WhisperAudioToText
from whisper import WhisperBackbone
from whisper import WhisperTokenizer


def build_model(model_config, tokenizer, clip_length_windows):
    """A `WhisperAudioToText` from a preset (with or without weights) or an architecture.

    Args:
        model_config: the `model` config group.
        tokenizer: the `WhisperTokenizer` of random-weight models
            (`load_tokenizer(tokenizer_source(model_config))` of
            `train.validation`);
            a preset's weights come with their own.
        clip_length_windows: bool. Features of each clip's own length
            instead of 30 s of padding (the data group's choice).
    """
    settings = {"language": model_config.language, "task": model_config.task}
    converter = {"pad_to_max_audio_length": not clip_length_windows}
    if model_config.load_weights:
        return WhisperAudioToText.from_preset(
            model_config.preset,
            dtype=model_config.dtype,
            audio_converter=converter,
            **settings,
        )
    backbone = build_random_backbone(model_config)
    return WhisperAudioToText(
        backbone,
        tokenizer=tokenizer,
        audio_converter=WhisperAudioConverter(num_mels=backbone.num_mels, **converter),
        **settings,
    )


def build_random_backbone(model_config):
    if model_config.preset:
        return WhisperBackbone.from_preset(
            model_config.preset,
            load_weights=False,
            dtype=model_config.dtype,
        )
    return WhisperBackbone(**model_config.architecture, dtype=model_config.dtype)


def load_tokenizer(source):
    """A tokenizer from a Hugging Face tokenizer.json or from a preset (an
    installed or built-in name, a handle, or a directory of any format)."""
    if os.path.isfile(source):
        return WhisperTokenizer.from_tokenizer_json(source)
    return WhisperTokenizer.from_preset(source)


def describe(model):
    backbone = model.backbone
    return (
        f"Whisper: {backbone.count_params():,} parameters, {backbone.num_layers} "
        f"encoder layers, hidden {backbone.hidden_dim}, policy "
        f"{keras.dtype_policies.serialize(backbone.dtype_policy)['config']['name']}"
    )
