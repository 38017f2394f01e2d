"""Speech data for training Whisper: sources of examples and their pipeline.

Every source yields `SpeechExample` records, shard by shard
(`source.examples(shard_index, num_shards)`):

- `ManifestSource`: local JSONL, CSV or TSV manifests of audio paths and
  transcripts.
- `HFDatasetsSource`: Hugging Face `datasets`, saved locally or on the Hub.
- `TFDSSource`: TensorFlow Datasets, such as LibriSpeech.
- `SyntheticSpeechSource`: the built-in corpus of English sentences spoken
  by espeak-ng, made offline and cached.

`build_source(kind, **kwargs)` builds one from a configuration.

Example:

```python
from data_pipelines import build_source

source = build_source("synthetic", split="eval", num_train=64, num_eval=8)
for example in source.examples(shard_index=0, num_shards=2):
    print(example.id, example.text, example.audio.shape)
```
"""

from data_pipelines.hf_datasets_source import HFDatasetsSource
from data_pipelines.manifest_source import ManifestError
from data_pipelines.manifest_source import ManifestSource
from data_pipelines.source_factory import SOURCE_KINDS
from data_pipelines.source_factory import build_source
from data_pipelines.speech_example import SpeechExample
from data_pipelines.speech_source import DatasetUnavailableError
from data_pipelines.speech_source import SpeechSource
from data_pipelines.synthetic_source import SyntheticSpeechSource
from data_pipelines.tfds_source import TFDSSource

__all__ = [
    "DatasetUnavailableError",
    "HFDatasetsSource",
    "ManifestError",
    "ManifestSource",
    "SOURCE_KINDS",
    "SpeechExample",
    "SpeechSource",
    "SyntheticSpeechSource",
    "TFDSSource",
    "build_source",
]
