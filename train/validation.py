"""Checks of a run's configuration: each failure is one line naming the key.

A bad value must cost the user seconds, not a traceback after the model has
been built, so the checks run as early as what they need allows:

1. `validate(cfg)`: everything the configuration and the files it names
   decide, before TensorFlow is imported (about a second): known keys,
   allowed kinds, numeric ranges, the architecture (own or a preset's),
   presets and data paths that resolve, downloads refused offline.
2. `check_batch_split(cfg, replicas)`: once the strategy exists.
3. `check_tokenizer(cfg, tokenizer, vocabulary_size)`: once the tokenizer is
   loaded, before the model is built: its vocabulary, language and task.

Each raises `ConfigError` (`train.config_errors`, which also turns it into
one line on stderr and exit status 2, unless HYDRA_FULL_ERROR=1 asks for the
traceback).
Hydra's own errors (unknown keys, wrong types while composing) stay as Hydra
prints them, with the same exit status (`train.__main__.command_line`). This
module imports neither Keras nor TensorFlow.

Example:

```python
from omegaconf import OmegaConf
from train.config_errors import ConfigError
from train.config_errors import blame
from train.validation import POSITIVE, check_range

cfg = OmegaConf.create({"trainer": {"steps": 0}})
try:
    check_range(cfg, "trainer.steps", POSITIVE)
except ConfigError as error:
    print(error)  # Config value trainer.steps=0 is not allowed: use a number > 0.
```
"""

import dataclasses
import json
import os
from collections.abc import Callable

from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError
from omegaconf.errors import ValidationError

from data_pipelines.source_factory import SOURCE_KINDS
from data_pipelines.window_lengths import longest_clip_window_frames
from train.architecture import effective_architecture
from train.choices import DTYPE_POLICIES
from train.choices import LORA_TARGETS
from train.choices import REMATERIALIZATION_MODES
from train.choices import SCHEDULE_KINDS
from train.choices import STRATEGY_KINDS
from train.config import TrainConfig
from train.config_errors import LOCAL_COPY
from train.config_errors import ConfigError
from train.config_errors import blame
from train.tracking import BACKENDS
from whisper.special_tokens import LANGUAGE_NAMES
from whisper.special_tokens import TASKS
from whisper.special_tokens import default_end_of_text_id
from whisper.special_tokens import language_code
from whisper.utils.offline import OFFLINE_ENV
from whisper.utils.offline import downloads_disabled
from whisper.whisper_presets import ARCHITECTURE_ARGUMENTS
from whisper.whisper_presets import ENGLISH_TOKENIZER_PRESET
from whisper.whisper_presets import INSTALLED_PRESETS
from whisper.whisper_presets import MEL_BIN_COUNTS
from whisper.whisper_presets import REQUIRED_ARCHITECTURE_ARGUMENTS
from whisper.whisper_presets import WINDOW_FRAMES
from whisper.whisper_presets import backbone_presets
from whisper.whisper_presets import tokenizer_preset

FRAMES_PER_SECOND = 100


@dataclasses.dataclass(frozen=True)
class Rule:
    test: Callable
    allowed: str


POSITIVE = Rule(lambda v: v > 0, "a number > 0")
NON_NEGATIVE = Rule(lambda v: v >= 0, "a number >= 0")
POSITIVE_OR_NULL = Rule(lambda v: v is None or v > 0, "null or a number > 0")
UNIT_INTERVAL_OPEN = Rule(lambda v: 0 <= v < 1, "a number in [0, 1)")
UNIT_INTERVAL = Rule(lambda v: 0 <= v <= 1, "a number in [0, 1]")

RANGES = {
    "seed": NON_NEGATIVE,
    "trainer.steps": POSITIVE,
    "trainer.global_batch_size": POSITIVE,
    "trainer.gradient_accumulation_steps": POSITIVE,
    "trainer.eval_every_steps": POSITIVE,
    "trainer.checkpoint_every_steps": POSITIVE,
    "trainer.keep_checkpoints": POSITIVE,
    "trainer.eval_batch_size": POSITIVE,
    "trainer.max_decode_length": POSITIVE,
    "trainer.max_skipped_updates_in_a_row": POSITIVE,
    "optimizer.learning_rate": POSITIVE,
    "optimizer.weight_decay": NON_NEGATIVE,
    "optimizer.beta_1": UNIT_INTERVAL_OPEN,
    "optimizer.beta_2": UNIT_INTERVAL_OPEN,
    "optimizer.epsilon": POSITIVE,
    "optimizer.clip_norm": POSITIVE_OR_NULL,
    "schedule.warmup_steps": NON_NEGATIVE,
    "schedule.final_learning_rate_fraction": UNIT_INTERVAL,
    "tracker.log_every_steps": POSITIVE,
    "strategy.num_cpu_devices": POSITIVE_OR_NULL,
    "data.min_audio_seconds": NON_NEGATIVE,
    "data.max_audio_seconds": POSITIVE,
    "data.min_window_seconds": NON_NEGATIVE,
    "data.max_label_tokens": POSITIVE,
    "data.label_padding_multiple": POSITIVE,
    "data.shuffle_buffer": NON_NEGATIVE,
    "data.without_timestamps_share": UNIT_INTERVAL,
    "data.previous_text_probability": UNIT_INTERVAL,
    "data.max_eval_examples": POSITIVE,
    "model.lora.alpha": POSITIVE_OR_NULL,
}
CHOICES = {
    "data.source": SOURCE_KINDS,
    "strategy.kind": STRATEGY_KINDS,
    "schedule.kind": SCHEDULE_KINDS,
    "model.task": TASKS,
    "model.dtype": DTYPE_POLICIES,
    "trainer.rematerialize": REMATERIALIZATION_MODES,
}
# The source argument naming the data of each source kind, checked to exist.
DATA_LOCATION_KEYS = {"manifest": "path", "hf_datasets": "dataset", "tfds": "data_dir"}


def validate(cfg):
    """Raises `ConfigError` naming the first key whose value is not allowed."""
    _check_known_keys(cfg)
    _check_no_missing_values(cfg)
    for key, allowed in CHOICES.items():
        check(cfg, key, get(cfg, key) in allowed, f"one of {list(allowed)}")
    for key, rule in RANGES.items():
        check_range(cfg, key, rule)
    for backend in cfg.tracker.backends:
        check(cfg, "tracker.backends", backend in BACKENDS, f"a list drawn from {list(BACKENDS)}")
    check(
        cfg,
        "run_dir",
        cfg.run_dir is None or "://" not in str(cfg.run_dir),
        "a local or mounted path (checkpoints are written with atomic renames, which object "
        "stores such as gs:// lack)",
    )
    _check_trainer(cfg)
    _check_strategy(cfg)
    _check_model(cfg)
    check_architecture(cfg, effective_architecture(cfg.model))
    _check_data(cfg)


def check_batch_split(cfg, replicas):
    """The global batch must split evenly over replicas and micro-batches."""
    accumulation = cfg.trainer.gradient_accumulation_steps
    check(
        cfg,
        "trainer.global_batch_size",
        cfg.trainer.global_batch_size % (replicas * accumulation) == 0,
        f"a multiple of {replicas} replicas x trainer.gradient_accumulation_steps="
        f"{accumulation} = {replicas * accumulation}",
    )


def check_tokenizer(cfg, tokenizer, vocabulary_size):
    """The tokenizer must fit the model's vocabulary and know the language.

    `vocabulary_size` is the architecture's, or None when only the built
    model knows it (an imported checkpoint, which brings its own tokenizer).
    """
    if vocabulary_size is not None:
        key = _vocabulary_key(cfg)
        check(
            cfg,
            key,
            tokenizer.vocabulary_size() <= vocabulary_size,
            f"at least the tokenizer's {tokenizer.vocabulary_size()} tokens",
        )
        layout_matches = tokenizer.eos_token_id == default_end_of_text_id(vocabulary_size)
        kind = "multilingual" if tokenizer.is_multilingual else "English-only"
        check(cfg, key, layout_matches, f"a size with the {kind} tokenizer's id layout")
    key = "model.task" if cfg.model.task != "transcribe" else "model.language"
    with blame(key, ValueError):
        tokenizer.decoder_prompt_ids(language=cfg.model.language, task=cfg.model.task)


def check_range(cfg, key, rule):
    check(cfg, key, rule.test(get(cfg, key)), rule.allowed)


def check(cfg, key, condition, allowed):
    if not condition:
        raise ConfigError(f"Config value {key}={get(cfg, key)!r} is not allowed: use {allowed}.")


def get(cfg, dotted_key):
    value = cfg
    for part in dotted_key.split("."):
        value = value[part]
    return value


# Groups -------------------------------------------------------------------


def _check_known_keys(cfg):
    # Hydra's `+key=value` adds keys past the schema; merging onto a fresh
    # schema catches them (and wrong types) all the same.
    try:
        OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.to_container(cfg))
    except (ConfigKeyError, ValidationError) as error:
        raise ConfigError(f"Config key {error.full_key!r} is not allowed: {error.msg}") from None


def _check_no_missing_values(cfg):
    # A group's mandatory value (`???`, e.g. data=manifest's paths) that no
    # override set; OmegaConf would raise MissingMandatoryValue on first read.
    missing = list(_missing_keys(cfg))
    if missing:
        others = f" (also unset: {', '.join(missing[1:])})" if missing[1:] else ""
        raise ConfigError(
            f"Config key {missing[0]} has no value: set it on the command line, "
            f"e.g. {missing[0]}=...{others}"
        )


def _missing_keys(node, prefix=""):
    """The dotted keys left at `???` under `node`, in the config's order."""
    for key in node:
        if OmegaConf.is_missing(node, key):
            yield f"{prefix}{key}"
        elif OmegaConf.is_dict(node[key]):
            yield from _missing_keys(node[key], f"{prefix}{key}.")


def _check_trainer(cfg):
    trainer = cfg.trainer
    check(
        cfg,
        "trainer.global_batch_size",
        trainer.global_batch_size % trainer.gradient_accumulation_steps == 0,
        "a multiple of trainer.gradient_accumulation_steps",
    )
    check(
        cfg,
        "schedule.warmup_steps",
        cfg.schedule.warmup_steps <= trainer.steps,
        f"at most trainer.steps={trainer.steps}",
    )


def _check_strategy(cfg):
    strategy = cfg.strategy
    check(
        cfg,
        "strategy.num_cpu_devices",
        strategy.num_cpu_devices is None or strategy.kind == "mirrored",
        "null unless strategy=mirrored (it splits the CPU into logical devices)",
    )
    check(
        cfg,
        "strategy.kind",
        strategy.kind != "multi_worker" or "TF_CONFIG" in os.environ,
        "multi_worker only with TF_CONFIG set (no cluster is described here: start each "
        "worker with python -m launch.worker -- python -m train ..., or python -m launch)",
    )
    tasks = _tf_config_task_count()
    check(
        cfg,
        "strategy.kind",
        tasks < 2 or strategy.kind in ("multi_worker", "tpu"),
        f"multi_worker (TF_CONFIG describes {tasks} tasks; alone, each would train on its own "
        "and write the same run_dir)",
    )


def _tf_config_task_count():
    """Tasks in the TF_CONFIG cluster, 0 when it is unset or not a cluster."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        return sum(len(addresses) for addresses in cluster.values())
    except (ValueError, AttributeError, TypeError):
        return 0


def _check_model(cfg):
    model = cfg.model
    check(
        cfg,
        "model.architecture",
        model.architecture is None or OmegaConf.is_dict(model.architecture),
        "null or a mapping of WhisperBackbone arguments, e.g. "
        "'{num_layers: 2, num_heads: 4, hidden_dim: 256, ...}'",
    )
    check(
        cfg,
        "model.preset",
        (model.preset is None) != (model.architecture is None),
        "a preset or, with model.preset=null, an architecture (not both)",
    )
    check(
        cfg,
        "model.load_weights",
        model.preset is not None or not model.load_weights,
        "false without a model.preset",
    )
    check(
        cfg,
        "model.tokenizer",
        model.tokenizer is not None or model.preset is not None,
        f"a preset directory, a tokenizer.json or '{ENGLISH_TOKENIZER_PRESET}' for an architecture",
    )
    if model.language is not None:
        check(
            cfg,
            "model.language",
            language_code(model.language) in LANGUAGE_NAMES,
            "null or a Whisper language code or name, such as 'en', 'fr' or 'german'",
        )
    if model.preset is not None and model.load_weights:
        _check_source(cfg, "model.preset", ", or model.load_weights=false for its architecture")
    if model.tokenizer is not None:
        _check_source(cfg, "model.tokenizer", "")
    elif not model.load_weights:
        _check_preset_tokenizer(cfg)
    _check_lora(cfg)


def _check_lora(cfg):
    lora = cfg.model.lora
    check(
        cfg,
        "model.lora.rank",
        lora.rank is None or lora.rank >= 0,
        "0 or null (no LoRA) or a positive integer",
    )
    targets = list(lora.targets)
    check(
        cfg,
        "model.lora.targets",
        targets and set(targets) <= set(LORA_TARGETS) and len(set(targets)) == len(targets),
        f"a non-empty list of distinct names drawn from {list(LORA_TARGETS)}",
    )


def tokenizer_source(model_config):
    """Where the run's tokenizer comes from: `model.tokenizer`, else the
    preset. A built-in English-only preset's architecture without its weights
    shares the installed English tokenizer, so it needs no download."""
    if model_config.tokenizer:
        return model_config.tokenizer
    preset = model_config.preset
    if not model_config.load_weights and preset in backbone_presets:
        return tokenizer_preset(preset) or preset
    return preset


def _check_preset_tokenizer(cfg):
    """A preset's architecture alone still needs its tokenizer: installed for
    English-only built-in presets, else read from the preset."""
    if tokenizer_source(cfg.model) in INSTALLED_PRESETS:
        return
    _check_source(
        cfg,
        "model.preset",
        ", or model.tokenizer=/path/to/tokenizer.json (a Whisper tokenizer with the preset's "
        "vocabulary)",
    )


def _check_source(cfg, key, alternative):
    """A preset or tokenizer source to read now: installed, built in, a
    handle, or a path.

    Built-in names and handles are downloaded unless cached; without a way
    to download them now (disabled, or no connection) they are refused at
    once, naming the override that takes a local copy, and `alternative`.
    """
    from whisper.preset_handles import remote_handle
    from whisper.preset_handles import unobtainable_reason

    source = str(get(cfg, key))
    if source in INSTALLED_PRESETS:
        return
    handle = remote_handle(source)
    if handle is not None:
        reason = unobtainable_reason(handle)
        if reason is not None:
            raise ConfigError(
                f"Config key {key}: '{source}' is not on this machine and {reason}; pass "
                f"{key}={LOCAL_COPY}{alternative}"
            )
        return
    check(
        cfg,
        key,
        os.path.exists(os.path.expanduser(source)),
        f"an existing path, an installed preset ({', '.join(INSTALLED_PRESETS)}), a built-in "
        f"preset ({', '.join(sorted(backbone_presets))}) or a kaggle:// or hf:// handle",
    )


def check_architecture(cfg, architecture):
    """The backbone arguments must build, and fit the data and decoding lengths."""
    if architecture is None:
        return
    prefix = "model.architecture" if cfg.model.architecture is not None else "model.preset"

    def require(name, condition, allowed):
        if not condition:
            value = architecture.get(name)
            raise ConfigError(
                f"Config value {prefix}.{name}={value!r} is not allowed: use {allowed}."
            )

    for name in architecture:
        require(name, name in ARCHITECTURE_ARGUMENTS, f"one of {list(ARCHITECTURE_ARGUMENTS)}")
    for name in REQUIRED_ARCHITECTURE_ARGUMENTS:
        require(name, name in architecture, "a value (it is required)")
    for name, value in architecture.items():
        if name not in ("dropout", "num_decoder_layers"):
            require(name, _is_positive_int(value), "a positive integer")
    decoder_layers = architecture.get("num_decoder_layers")
    require(
        "num_decoder_layers",
        decoder_layers is None or _is_positive_int(decoder_layers),
        "null or a positive integer",
    )
    dropout = architecture.get("dropout", 0.0)
    require("dropout", 0 <= dropout < 1, "a number in [0, 1)")
    # A recomputed forward pass would draw new dropout masks, and the
    # gradient would not be the one of the forward pass that ran.
    require(
        "dropout",
        dropout == 0 or cfg.trainer.rematerialize == "none",
        f"0 with trainer.rematerialize={cfg.trainer.rematerialize}",
    )
    _check_frozen_layers(cfg, architecture)
    heads, hidden = architecture["num_heads"], architecture["hidden_dim"]
    require("num_heads", hidden % heads == 0, f"a divisor of hidden_dim={hidden}")
    require("num_mels", architecture.get("num_mels", 80) in MEL_BIN_COUNTS, "80 or 128")
    _check_sequence_lengths(cfg, architecture, require)


def _check_frozen_layers(cfg, architecture):
    encoder_layers = architecture["num_layers"]
    decoder_layers = architecture.get("num_decoder_layers") or encoder_layers
    for stack, layers in (("encoder", encoder_layers), ("decoder", decoder_layers)):
        key = f"model.freeze_{stack}_layers"
        check(
            cfg,
            key,
            0 <= get(cfg, key) <= layers,
            f"a number of layers in [0, {layers}] (the model's {stack} has {layers})",
        )


def _check_sequence_lengths(cfg, architecture, require):
    decoder_length = architecture.get("max_decoder_sequence_length", 448)
    for key in ("data.max_label_tokens", "trainer.max_decode_length"):
        check(
            cfg,
            key,
            get(cfg, key) <= decoder_length,
            f"at most the decoder's max_decoder_sequence_length={decoder_length}",
        )
    frames = _frames_needed(cfg.data)
    require(
        "max_encoder_sequence_length",
        architecture.get("max_encoder_sequence_length", WINDOW_FRAMES) >= frames,
        f"at least {frames} frames, the longest features data.max_audio_seconds="
        f"{cfg.data.max_audio_seconds} gives",
    )


def _frames_needed(data):
    if not data.clip_length_windows:
        return WINDOW_FRAMES
    return longest_clip_window_frames(data.max_audio_seconds, FRAMES_PER_SECOND)


def _check_data(cfg):
    data = cfg.data
    check(
        cfg,
        "data.min_audio_seconds",
        data.min_audio_seconds < data.max_audio_seconds,
        f"less than data.max_audio_seconds={data.max_audio_seconds}",
    )
    check(
        cfg,
        "data.max_audio_seconds",
        data.max_audio_seconds <= WINDOW_FRAMES / FRAMES_PER_SECOND,
        f"at most {WINDOW_FRAMES // FRAMES_PER_SECOND} s, the window Whisper hears",
    )
    check(
        cfg,
        "data.min_window_seconds",
        data.min_window_seconds == 0 or data.clip_length_windows,
        "0 unless data.clip_length_windows=true (30 s windows are all the same length)",
    )
    check(
        cfg,
        "data.min_window_seconds",
        data.min_window_seconds <= data.max_audio_seconds,
        f"at most data.max_audio_seconds={data.max_audio_seconds}",
    )
    check(
        cfg,
        "data.packing",
        not (data.packing and data.clip_length_windows),
        "false with data.clip_length_windows=true (packing fills 30 s windows; clip-length "
        "windows cut them to one clip), or set data.clip_length_windows=false",
    )
    check(
        cfg,
        "data.packing",
        not (data.packing and (data.timestamps or data.previous_text_probability > 0)),
        "false with data.timestamps=true or data.previous_text_probability > 0 (packing joins "
        "plain transcripts; timestamps and prompts need one example to a window)",
    )
    check(
        cfg,
        "data.features_in_step",
        not (data.features_in_step and data.spec_augment),
        "false with data.spec_augment=true (SpecAugment masks features, which the training "
        "step would compute after it), or set data.spec_augment=false",
    )
    location = DATA_LOCATION_KEYS.get(data.source)
    for split in ("train", "eval"):
        if location in data[split]:
            _check_data_location(cfg, f"data.{split}.{location}")


def _check_data_location(cfg, key):
    value = get(cfg, key)
    if value is None or "://" in str(value):
        return  # A hub name's default, or cloud storage read at run time.
    path = os.path.expanduser(str(value))
    if os.path.exists(path):
        wants_file = cfg.data.source == "manifest"
        kind = "a manifest file" if wants_file else "a directory"
        check(cfg, key, os.path.isfile(path) == wants_file, f"{kind} (it is {_kind_of(path)})")
        return
    looks_like_path = str(value).startswith(("/", ".", "~")) or not key.endswith(".dataset")
    check(
        cfg,
        key,
        not (looks_like_path or downloads_disabled()),
        "an existing path"
        + ("" if looks_like_path else f" (downloads are disabled, {OFFLINE_ENV}=1)"),
    )


def _kind_of(path):
    return "a directory" if os.path.isdir(path) else "a file"


def _vocabulary_key(cfg):
    if cfg.model.architecture is not None:
        return "model.architecture.vocabulary_size"
    return "model.tokenizer" if cfg.model.tokenizer is not None else "model.preset"


def _is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
