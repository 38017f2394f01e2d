"""configs/ and the schema: every file parses, every group option composes, values live once."""

import dataclasses
import inspect
import pathlib

import pytest
from omegaconf import OmegaConf

import train.__main__  # noqa: F401  (registers the schema and the presets)
from data_pipelines.example_filter import ExampleFilter
from data_pipelines.featurizer import Featurizer
from data_pipelines.pipeline import build_dataset
from data_pipelines.pipeline import build_eval_examples
from data_pipelines.source_factory import SOURCE_KINDS
from data_pipelines.target_builder import TargetBuilder
from train.choices import SCHEDULE_KINDS
from train.choices import STRATEGY_KINDS
from train.config import TrainConfig
from train.config import compose_train_config
from train.config_errors import ConfigError
from train.data import pipeline_arguments
from train.validation import validate

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
GROUP_FILES = sorted(CONFIGS.glob("*/*.yaml"))
# Group options whose sources a user must point at their own data: the keys,
# and the data's name under tmp_path ("" for the directory itself).
USER_DATA = {"data/manifest": (("data.train.path", "data.eval.path"), "clips.jsonl"),
             "data/hf_datasets": (("data.train.dataset", "data.eval.dataset"), "")}  # fmt: skip


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=str)
def test_every_config_file_is_yaml_that_parses(path):
    assert OmegaConf.is_dict(OmegaConf.load(path))


@pytest.mark.parametrize("group", ["data", "model"])
def test_a_groups_options_share_its_common_block_and_copy_none_of_it(group):
    (common,) = (CONFIGS / group / "common").glob("*.yaml")
    shared = OmegaConf.load(common)
    for path in (CONFIGS / group).glob("*.yaml"):
        option = OmegaConf.load(path)
        assert f"common/{common.stem}@_here_" in option.defaults, path.name
        copied = [key for key in option if key in shared and option[key] == shared[key]]
        assert copied == [], f"{path.name} restates {copied} of {common.name}"


@pytest.mark.parametrize(
    "function",
    [build_dataset, build_eval_examples, TargetBuilder, ExampleFilter, Featurizer],
    ids=lambda function: function.__name__,
)
def test_the_pipeline_takes_the_configs_values_without_defaults_of_its_own(function):
    cfg = compose_train_config()
    config_keys = {"seed", *cfg.model, *cfg.data}
    parameters = inspect.signature(function).parameters.values()
    restated = [p.name for p in parameters if p.name in config_keys and p.default is not p.empty]
    assert restated == [], f"{function.__name__} restates the config's {restated}"


def test_every_pipeline_setting_of_the_config_reaches_the_pipeline():
    data = compose_train_config().data
    taken = pipeline_arguments(data, build_dataset) | pipeline_arguments(data, build_eval_examples)
    # The sources' keys, and the evaluation set's size (`max_examples`).
    assert set(data) - set(taken) == {"source", "train", "eval", "max_eval_examples"}


def test_the_schema_states_types_and_no_values():
    def check(schema):
        for field in dataclasses.fields(schema):
            assert field.default is dataclasses.MISSING, f"{schema.__name__}.{field.name}"
            assert field.default_factory is dataclasses.MISSING, field.name
            if dataclasses.is_dataclass(field.type):
                check(field.type)

    check(TrainConfig)


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda path: f"{path.parent.name}={path.stem}")
def test_every_group_option_composes_validates_and_sets_every_field(path, monkeypatch, tmp_path):
    group, option = path.parent.name, path.stem
    # A multi-worker run is valid where a cluster is described.
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]}}')
    user_data, name = USER_DATA.get(f"{group}/{option}", ((), ""))
    (tmp_path / name).touch(exist_ok=True)
    cfg = compose_train_config(
        f"{group}={option}", *(f"{key}={tmp_path / name}" for key in user_data)
    )
    validate(cfg)
    assert not OmegaConf.missing_keys(cfg)
    if user_data:
        with pytest.raises(ConfigError, match=f"^Config key {user_data[0]} has no value"):
            validate(compose_train_config(f"{group}={option}"))


def test_allowed_kinds_are_the_modules_and_each_has_its_group_option():
    assert {path.stem for path in (CONFIGS / "strategy").glob("*.yaml")} == set(STRATEGY_KINDS)
    assert {path.stem for path in (CONFIGS / "schedule").glob("*.yaml")} == set(SCHEDULE_KINDS)
    sources = {OmegaConf.load(path).source for path in (CONFIGS / "data").glob("*.yaml")}
    assert sources == set(SOURCE_KINDS)


def test_a_preset_without_its_weights_is_its_architecture():
    cfg = compose_train_config(
        "+preset=whisper_base_en", "model.load_weights=false", "model.tokenizer=tiny_en"
    )
    validate(cfg)
    assert (cfg.model.preset, cfg.model.load_weights) == ("whisper_base_en", False)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["model.architecture=null"], "model.preset"),
        (["model.preset=whisper_tiny_en"], "model.preset"),
        (["model.load_weights=true"], "model.load_weights"),
    ],
)
def test_a_model_is_a_preset_or_an_architecture(overrides, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        validate(compose_train_config(*overrides))
