"""`build_source`: a speech source from its kind and keyword arguments.

Configuration files name a source by kind and give its constructor's
arguments, e.g. `build_source("manifest", path="data/train.jsonl")`; this
maps the kind to its class. A source's module is imported only when a
source of its kind is built, so that naming kinds (or checking a
configuration) does not import `datasets` or `tensorflow_datasets`.

Example:

```python
from data_pipelines.source_factory import build_source

train = build_source("synthetic", split="train", num_train=64, num_eval=8)
len(train)  # 64
try:
    build_source("csv", path="train.csv")
except ValueError as error:
    print(error)  # Unknown data source kind 'csv'; allowed: 'manifest', ...
```
"""

import importlib

# Each kind's class, as (module, class name).
SOURCE_CLASSES = {
    "manifest": ("data_pipelines.manifest_source", "ManifestSource"),
    "hf_datasets": ("data_pipelines.hf_datasets_source", "HFDatasetsSource"),
    "tfds": ("data_pipelines.tfds_source", "TFDSSource"),
    "synthetic": ("data_pipelines.synthetic_source", "SyntheticSpeechSource"),
}
SOURCE_KINDS = tuple(SOURCE_CLASSES)


def source_class(kind):
    """The `SpeechSource` subclass of kind `kind`."""
    if kind not in SOURCE_CLASSES:
        allowed = ", ".join(f"'{name}'" for name in SOURCE_KINDS)
        raise ValueError(f"Unknown data source kind {kind!r}; allowed: {allowed}.")
    module, class_name = SOURCE_CLASSES[kind]
    return getattr(importlib.import_module(module), class_name)


def build_source(kind, **kwargs):
    """The source of kind `kind`, built with `kwargs`.

    Args:
        kind: one of `SOURCE_KINDS`: "manifest", "hf_datasets", "tfds" or
            "synthetic".
        **kwargs: the arguments of that kind's class.
    """
    return source_class(kind)(**kwargs)
