"""`build_source`: a speech source from its kind and keyword arguments.

Configuration files name a source by kind and give its constructor's
arguments, e.g. `build_source("manifest", path="data/train.jsonl")`; this
maps the kind to its class.

Example:

```python
from data_pipelines.source_factory import build_source

train = build_source("synthetic", split="train", num_train=64, num_eval=8)
len(train)  # 64
build_source("csv", path="train.csv")
# ValueError: Unknown data source kind 'csv'; allowed: 'manifest',
# 'hf_datasets', 'tfds', 'synthetic'.
```
"""

from data_pipelines.hf_datasets_source import HFDatasetsSource
from data_pipelines.manifest_source import ManifestSource
from data_pipelines.synthetic_source import SyntheticSpeechSource
from data_pipelines.tfds_source import TFDSSource

SOURCE_KINDS = {
    "manifest": ManifestSource,
    "hf_datasets": HFDatasetsSource,
    "tfds": TFDSSource,
    "synthetic": SyntheticSpeechSource,
}


def build_source(kind, **kwargs):
    """The source of kind `kind`, built with `kwargs`.

    Args:
        kind: one of `SOURCE_KINDS`: "manifest", "hf_datasets", "tfds" or
            "synthetic".
        **kwargs: the arguments of that kind's class.
    """
    if kind not in SOURCE_KINDS:
        allowed = ", ".join(f"'{name}'" for name in SOURCE_KINDS)
        raise ValueError(f"Unknown data source kind {kind!r}; allowed: {allowed}.")
    return SOURCE_KINDS[kind](**kwargs)
