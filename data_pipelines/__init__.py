"""Speech data for training Whisper: sources of examples and their pipeline.

Every source yields `SpeechExample` records, shard by shard
(`source.examples(shard_index, num_shards)`):

- `ManifestSource`: local JSONL, CSV or TSV manifests of audio paths and
  transcripts.
- `HFDatasetsSource`: Hugging Face `datasets`, saved locally or on the Hub.
- `TFDSSource`: TensorFlow Datasets, such as LibriSpeech.
- `SyntheticSpeechSource`: the built-in corpus of English sentences spoken
  by espeak-ng, made offline and cached.

`build_source(kind, **kwargs)` builds one from a configuration. Names are
imported on first use, so `import data_pipelines` imports neither
`datasets` nor `tensorflow_datasets`.

Example:

```python
from data_pipelines import build_source

source = build_source("synthetic", split="eval", num_train=64, num_eval=8)
for example in source.examples(shard_index=0, num_shards=2):
    print(example.id, example.text, example.audio.shape)
```
"""

from whisper.utils.lazy_exports import lazy_exports

_EXPORTS = {
    "DatasetUnavailableError": "data_pipelines.speech_source",
    "HFDatasetsSource": "data_pipelines.hf_datasets_source",
    "ManifestError": "data_pipelines.manifest_source",
    "ManifestSource": "data_pipelines.manifest_source",
    "SOURCE_KINDS": "data_pipelines.source_factory",
    "SpeechExample": "data_pipelines.speech_example",
    "SpeechSource": "data_pipelines.speech_source",
    "SyntheticSpeechSource": "data_pipelines.synthetic_source",
    "TFDSSource": "data_pipelines.tfds_source",
    "build_source": "data_pipelines.source_factory",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
