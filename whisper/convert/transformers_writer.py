"""Writes a task model as a Hugging Face transformers Whisper checkpoint.

The directory gets config.json, model.safetensors (float32),
preprocessor_config.json and generation_config.json, and with a tokenizer
also tokenizer.json and tokenizer_config.json. transformers'
`WhisperForConditionalGeneration.from_pretrained(path)`,
`AutoTokenizer.from_pretrained(path)` and `pipeline(...)` load it, and
`generate` then starts from the model's language and task with its token
suppression, so a model trained here decodes there as it was trained.

`WhisperAudioToText.save_to_transformers(path)` calls this.
"""

import os

import numpy as np
import safetensors.numpy

from whisper.convert import transformers_format as hf
from whisper.convert.keras_hub_layout import keras_hub_layout
from whisper.convert.keras_hub_weights import keras_hub_arrays
from whisper.convert.tokenizer_files import HF_TOKENIZER_FILE
from whisper.convert.torch_layout import to_torch
from whisper.special_tokens import END_OF_TEXT_TOKEN
from whisper.special_tokens import PREVIOUS_TEXT_TOKEN
from whisper.special_tokens import SECONDS_PER_TIMESTAMP
from whisper.special_tokens import language_code
from whisper.special_tokens import language_token
from whisper.timestamp_rules import MAX_INITIAL_TIMESTAMP
from whisper.utils.json_io import write_json
from whisper.utils.json_io import write_text


def save_transformers_checkpoint(model, path):
    """Writes `model` (a `WhisperAudioToText`) to the directory `path`.

    Its tokenizer, audio converter and generation settings are written too.
    Without a tokenizer, the token ids in the configs are those of OpenAI's
    layouts (English-only for a 51864-token vocabulary, else multilingual).
    Each file is written atomically; config.json, which marks the directory
    as a checkpoint, is written last.
    """
    os.makedirs(path, exist_ok=True)
    _write_weights(model.backbone, os.path.join(path, hf.WEIGHTS_FILE))
    if model.tokenizer is not None:
        write_text(os.path.join(path, HF_TOKENIZER_FILE), model.tokenizer.to_tokenizer_json())
        write_json(os.path.join(path, hf.TOKENIZER_CONFIG_FILE), _tokenizer_config(model))
    write_json(
        os.path.join(path, hf.PREPROCESSOR_CONFIG_FILE),
        _preprocessor_config(model.audio_converter),
    )
    write_json(os.path.join(path, hf.GENERATION_CONFIG_FILE), _generation_config(model))
    write_json(os.path.join(path, hf.CONFIG_FILE), _transformers_config(model))


def _write_weights(backbone, weights_path):
    arrays = keras_hub_arrays(backbone)
    tensors = {
        hf.MODEL_PREFIX + hf.tensor_name(spec): np.ascontiguousarray(
            to_torch(spec.layout, arrays[spec.path])
        )
        for spec in keras_hub_layout(backbone.get_config())
    }
    # No proj_out.weight: with tie_word_embeddings transformers ties it to
    # the token embedding, as its own save_pretrained leaves it out.
    temporary = f"{weights_path}.tmp"
    # transformers refuses safetensors files without a "format" entry.
    safetensors.numpy.save_file(tensors, temporary, metadata={"format": "pt"})
    os.replace(temporary, weights_path)


def _special_ids(model):
    """(start of transcript, end of text) ids."""
    if model.tokenizer is not None:
        return model.tokenizer.bos_token_id, model.tokenizer.eos_token_id
    # OpenAI's layouts put <|startoftranscript|> right after end of text.
    end_of_text = model.end_of_text_id()
    return end_of_text + 1, end_of_text


def _transformers_config(model):
    backbone = model.backbone
    start, end = _special_ids(model)
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": hf.MODEL_TYPE,
        "vocab_size": backbone.vocabulary_size,
        "num_mel_bins": backbone.num_mels,
        "d_model": backbone.hidden_dim,
        "encoder_layers": backbone.num_layers,
        "decoder_layers": backbone.num_decoder_layers or backbone.num_layers,
        "encoder_attention_heads": backbone.num_heads,
        "decoder_attention_heads": backbone.num_heads,
        "encoder_ffn_dim": backbone.intermediate_dim,
        "decoder_ffn_dim": backbone.intermediate_dim,
        "max_source_positions": backbone.max_encoder_sequence_length // 2,
        "max_target_positions": backbone.max_decoder_sequence_length,
        "activation_function": hf.ACTIVATION,
        "scale_embedding": False,
        "tie_word_embeddings": True,
        # Our dropout also drops attention probabilities, never activations.
        "dropout": backbone.dropout,
        "attention_dropout": backbone.dropout,
        "activation_dropout": 0.0,
        "encoder_layerdrop": 0.0,
        "decoder_layerdrop": 0.0,
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "use_cache": True,
        "bos_token_id": start,
        "decoder_start_token_id": start,
        "eos_token_id": end,
        "pad_token_id": end,
        "dtype": "float32",
    }


def _generation_config(model):
    """transformers' Whisper generation settings for `model`'s decoding.

    The suppressed tokens are those `model` suppresses when it decodes with
    timestamps, as in OpenAI's checkpoints on the hub: `generate` decodes our
    tokens with `return_timestamps=True` or without (where `<|notimestamps|>`
    keeps timestamps away), and the first timestamp is at most 1 s, OpenAI's
    bound. `language` and `task` supersede the deprecated
    `forced_decoder_ids`, which is left out.
    """
    start, end = _special_ids(model)
    settings = {
        "decoder_start_token_id": start,
        "bos_token_id": start,
        "eos_token_id": end,
        "pad_token_id": end,
        "max_length": model.backbone.max_decoder_sequence_length,
        "suppress_tokens": [int(i) for i in model.suppressed_token_ids(_has_timestamps(model))],
        "begin_suppress_tokens": [int(i) for i in model.begin_suppressed_token_ids()],
        "max_initial_timestamp_index": round(MAX_INITIAL_TIMESTAMP / SECONDS_PER_TIMESTAMP),
    }
    tokenizer = model.tokenizer
    if tokenizer is None:
        return settings
    settings["no_timestamps_token_id"] = tokenizer.no_timestamps_token_id
    settings["is_multilingual"] = tokenizer.is_multilingual
    if PREVIOUS_TEXT_TOKEN in tokenizer.special_tokens:
        settings["prev_sot_token_id"] = tokenizer.token_to_id(PREVIOUS_TEXT_TOKEN)
    if tokenizer.is_multilingual:
        settings["lang_to_id"] = dict(tokenizer.language_tokens)
        settings["task_to_id"] = hf.task_ids(tokenizer)
        settings["task"] = model.task
        if model.language is not None:
            # The token form: transformers finds it in lang_to_id whatever
            # language names it knows.
            settings["language"] = language_token(language_code(model.language))
    return settings


def _has_timestamps(model):
    tokenizer = model.tokenizer
    return tokenizer is not None and tokenizer.timestamp_begin_id < model.backbone.vocabulary_size


def _tokenizer_config(model):
    """transformers' tokenizer settings; its labels get `model`'s prompt."""
    tokenizer = model.tokenizer
    config = {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": END_OF_TEXT_TOKEN,
        "eos_token": END_OF_TEXT_TOKEN,
        "unk_token": END_OF_TEXT_TOKEN,
        "pad_token": END_OF_TEXT_TOKEN,
        "add_prefix_space": tokenizer.add_prefix_space,
        "model_max_length": model.backbone.max_decoder_sequence_length,
        "errors": "replace",
        "predict_timestamps": False,
    }
    if tokenizer.is_multilingual and model.language is not None:
        config["language"] = language_code(model.language)
        config["task"] = model.task
    return config


def _preprocessor_config(audio_converter):
    """transformers' WhisperFeatureExtractor settings, equal to the converter's."""
    return {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "processor_class": "WhisperProcessor",
        "feature_size": audio_converter.num_mels,
        "sampling_rate": audio_converter.sampling_rate,
        "hop_length": audio_converter.stride,
        "n_fft": audio_converter.num_fft_bins,
        "chunk_length": audio_converter.max_audio_length,
        "n_samples": audio_converter.num_samples,
        "nb_max_frames": audio_converter.num_samples // audio_converter.stride,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
    }
