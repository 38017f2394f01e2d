"""The typed schema of `python -m train`'s configuration.

The schema holds types and no defaults, so every field is required
(OmegaConf reads a field without a default as missing); the values live in
configs/ alone (`train.yaml` and one file per group option). Hydra merges
the YAML onto these dataclasses, so a misspelled key or a value of the
wrong type fails while the config is composed, naming the key, and a group
file that leaves a field out fails as soon as the field is read.
`train.validation` then checks what types cannot (allowed kinds, ranges,
paths, the architecture). This module imports neither Keras nor TensorFlow,
so a bad configuration fails in about a second.

`register_schema` also registers one `preset` group option per built-in
preset (`+preset=whisper_base_en`), made from the preset registry: the
preset's architecture and, unless `model.load_weights=false`, its weights.
`compose_train_config` gives the config a command line would run with, for
benchmarks and tests that build parts of a run.
"""

import dataclasses
import os
from typing import Any

from hydra import compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore

from whisper.special_tokens import ENGLISH
from whisper.special_tokens import is_english_only_vocabulary
from whisper.whisper_presets import backbone_presets


@dataclasses.dataclass
class LoraConfig:
    # The adapters' rank; 0 or null: no LoRA, every unfrozen weight trains.
    rank: int | None
    # The adapters' scale is alpha / rank; null: rank (a scale of 1).
    alpha: float | None
    # Which layers get adapters, in every unfrozen transformer layer: some of
    # train.choices.LORA_TARGETS.
    targets: list[str]


@dataclasses.dataclass
class ModelConfig:
    # A built-in preset name, a kaggle:// or hf:// handle, a keras_hub preset,
    # transformers or CTranslate2 directory, or "tiny_en" (the offline copy of
    # OpenAI's tiny.en); null: `architecture`.
    preset: str | None
    # False: the preset's architecture with random weights.
    load_weights: bool
    # WhisperBackbone constructor arguments, when `preset` is null. Typed Any,
    # not dict | None: OmegaConf cannot merge an override such as
    # `model.architecture.hidden_dim=8` into a None dict node and crashes with
    # a traceback; as Any it merges, and validation names the conflict.
    architecture: Any
    # The tokenizer of random-weight models: a preset directory, a Hugging
    # Face tokenizer.json, or "tiny_en"; null: the preset's own.
    tokenizer: str | None
    language: str | None
    task: str
    dtype: str
    freeze_encoder: bool
    # The first N layers of the encoder, of the decoder, stay fixed.
    freeze_encoder_layers: int
    freeze_decoder_layers: int
    # The token table, which is also the output head (the two are tied).
    freeze_token_embedding: bool
    lora: LoraConfig


@dataclasses.dataclass
class DataConfig:
    source: str
    # Keyword arguments of the source (see data_pipelines.build_source).
    train: dict[str, Any]
    eval: dict[str, Any]
    min_audio_seconds: float
    max_audio_seconds: float
    max_label_tokens: int
    # Token rows are padded to a multiple of this (fewer shapes to compile).
    label_padding_multiple: int
    clip_length_windows: bool
    # With clip_length_windows: the shortest window, however short the clip.
    min_window_seconds: float
    # Several clips to a 30 s window, their transcripts joined; not with
    # clip_length_windows.
    packing: bool
    spec_augment: bool
    # Examples with segments train on timed segments (Whisper's timestamp
    # tokens), but for a share without_timestamps_share of them.
    timestamps: bool
    without_timestamps_share: float
    # How often an example with a previous text is prompted with it.
    previous_text_probability: float
    # Batches carry padded 16 kHz waveforms, turned into log-mel features
    # inside the compiled training step (on the accelerator); not with
    # spec_augment, which masks features.
    features_in_step: bool
    shuffle_buffer: int
    max_eval_examples: int


@dataclasses.dataclass
class StrategyConfig:
    kind: str
    num_cpu_devices: int | None
    tpu: str | None


@dataclasses.dataclass
class OptimizerConfig:
    learning_rate: float
    weight_decay: float
    beta_1: float
    beta_2: float
    epsilon: float
    clip_norm: float | None


@dataclasses.dataclass
class ScheduleConfig:
    kind: str
    warmup_steps: int
    final_learning_rate_fraction: float


@dataclasses.dataclass
class TrackerConfig:
    backends: list[str]
    project: str
    log_every_steps: int


@dataclasses.dataclass
class TrainerConfig:
    steps: int
    global_batch_size: int
    gradient_accumulation_steps: int
    eval_every_steps: int
    checkpoint_every_steps: int
    keep_checkpoints: int
    eval_batch_size: int
    max_decode_length: int
    jit_compile: bool
    rematerialize: str
    # Updates skipped in a row (non-finite loss or gradient) that stop the run.
    max_skipped_updates_in_a_row: int


@dataclasses.dataclass
class TrainConfig:
    model: ModelConfig
    data: DataConfig
    strategy: StrategyConfig
    optimizer: OptimizerConfig
    schedule: ScheduleConfig
    tracker: TrackerConfig
    trainer: TrainerConfig
    run_dir: str | None
    seed: int
    # Free-form notes a named experiment carries into the tracked config.
    notes: Any


CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def compose_train_config(*overrides):
    """The configuration of `python -m train OVERRIDES`, composed (group
    defaults lists included) but not validated, without starting a run."""
    register_schema()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def register_schema():
    """Registers the schema and the built-in presets with Hydra."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    for name, preset in backbone_presets.items():
        store.store(group="preset", name=name, node=preset_option(name, preset), package="_global_")


def preset_option(name, preset):
    """The `+preset=<name>` option: the preset's architecture and weights.

    Multilingual presets transcribe English unless `model.language` says
    otherwise; the preset's own tokenizer comes with its weights.
    """
    english_only = is_english_only_vocabulary(preset["config"]["vocabulary_size"])
    return {
        "model": {
            "preset": name,
            "load_weights": True,
            "architecture": None,
            "tokenizer": None,
            "language": None if english_only else ENGLISH,
        }
    }
