"""The input pipeline's settings as `python -m train` runs with them, for tests.

`build_dataset`, `build_eval_examples`, `TargetBuilder`, `ExampleFilter` and
`Featurizer` take the run's settings without defaults: their values live in
configs/ alone. A test takes them from the config, composed once, changing
what it tests:
`build_dataset(source, tokenizer, converter, **pipeline_settings(build_dataset,
batch_size=2, max_label_tokens=32))`.
"""

import functools
import inspect

from train.config import compose_train_config
from train.data import pipeline_arguments


@functools.cache
def common_settings_config():
    # data=manifest changes none of the settings all data options share
    # (configs/data/common/pipeline.yaml); data=synthetic, the default, does.
    return compose_train_config("data=manifest")


def pipeline_settings(function, **overrides):
    """The config's values of `function`'s settings, then `overrides`."""
    config = common_settings_config()
    run_settings = {
        "seed": config.seed,
        "language": config.model.language,
        "task": config.model.task,
    }
    parameters = inspect.signature(function).parameters
    taken = {name: value for name, value in run_settings.items() if name in parameters}
    return {**taken, **pipeline_arguments(config.data, function), **overrides}
