"""`TFDSSource`: speech from a TensorFlow Datasets dataset.

`name` is any TFDS dataset name, with a config and version if wanted
(`"librispeech"`, `"librispeech/default:2.1.1"`), or a builder registered by
your own `tfds.core.GeneratorBasedBuilder` subclass. The dataset is read from
`data_dir` (TFDS's default, `~/tensorflow_datasets`, when None); if it is not
prepared there, it is downloaded and prepared first unless `download=False`.

The speech feature holds the samples, e.g. LibriSpeech's `"speech"`: int16
at 16 kHz, handed on as integer PCM for the input pipeline to scale. Its
rate comes from the feature (`tfds.features.Audio(sample_rate=...)`), or
from `sampling_rate` for a feature that does not record one. Text features
are decoded from UTF-8. Ids come from `id_feature` when the dataset has it,
else from TFDS's own example ids (`<file>__<index>`).

Offline, a dataset that is not prepared in `data_dir` fails with a
`DatasetUnavailableError` naming it; with `WHISPER_KERAS_OFFLINE=1` no
download is attempted (TFDS would otherwise retry unreachable servers for
minutes).

Shards are TFDS's `even_splits` of `split`: each shard reads only its own
contiguous run of examples, not the whole split.

Example:

```python
import numpy as np
import tensorflow_datasets as tfds
from data_pipelines.tfds_source import TFDSSource

class Tones(tfds.core.GeneratorBasedBuilder):
    # Four tones laid out as LibriSpeech is: int16 "speech" and "text".
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "speech": tfds.features.Audio(sample_rate=16000, dtype=np.int16),
            "text": tfds.features.Text(),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for index in range(4):
            yield index, {"speech": np.full(1600, 100 * index, np.int16), "text": f"tone {index}"}

tfds.builder("tones", data_dir="tfds_data").download_and_prepare()
source = TFDSSource("tones", split="train", data_dir="tfds_data")
example = next(source.examples(shard_index=0, num_shards=2))
example.audio.dtype, example.sampling_rate  # (dtype('int16'), 16000)
```

LibriSpeech itself: `TFDSSource("librispeech", split="dev_clean",
data_dir=...)` where it is prepared.
"""

import tensorflow_datasets as tfds

from data_pipelines.speech_example import SpeechExample
from data_pipelines.speech_source import DatasetUnavailableError
from data_pipelines.speech_source import SpeechSource
from whisper.utils.offline import OFFLINE_ENV
from whisper.utils.offline import downloads_disabled

# The per-example id TFDS can add to every example it reads.
TFDS_ID = "tfds_id"


class TFDSSource(SpeechSource):
    """Speech examples from a TensorFlow Datasets dataset.

    Args:
        name: str. The dataset, e.g. "librispeech" or
            "librispeech/default:2.1.1".
        split: str. A TFDS split, slices included, e.g. "train_clean100" or
            "dev_clean[:10%]".
        data_dir: str. Where TFDS datasets are prepared; None for TFDS's
            default.
        speech_feature: str. The feature holding the samples.
        text_feature: str. The feature holding the transcript.
        id_feature: str. The feature holding the example id, used when the
            dataset has it.
        sampling_rate: int. The rate of the speech feature, needed only when
            the feature does not record it.
        download: bool. Download and prepare the dataset when `data_dir`
            does not hold it yet.
    """

    def __init__(
        self,
        name,
        split="train",
        data_dir=None,
        speech_feature="speech",
        text_feature="text",
        id_feature="id",
        sampling_rate=None,
        download=True,
    ):
        self.dataset_name = name
        self.split = split
        self.name = f"{name}/{split}"
        self.text_feature = text_feature
        self.speech_feature = speech_feature
        self.id_feature = id_feature
        self._builder = tfds.builder(name, data_dir=data_dir)
        if not self._builder.is_prepared():
            self._prepare(download)
        try:
            self._builder.info.splits[split]
        except ValueError as error:  # Unknown split, or a bad slice.
            raise ValueError(f"TFDS dataset '{name}': {error}") from error
        features = self._builder.info.features
        for argument, feature in (
            ("speech_feature", speech_feature),
            ("text_feature", text_feature),
        ):
            if feature not in features:
                raise ValueError(
                    f"TFDS dataset '{name}' has no feature '{feature}'; its "
                    f"features: {', '.join(features)}. Set `{argument}`."
                )
        self.sampling_rate = self._speech_rate(features[speech_feature], sampling_rate)

    @property
    def num_examples(self):
        return self._builder.info.splits[self.split].num_examples

    def _examples(self, shard_index, num_shards):
        shard = tfds.even_splits(self.split, n=num_shards, drop_remainder=False)
        dataset = self._builder.as_dataset(
            split=shard[shard_index],
            shuffle_files=False,
            read_config=tfds.ReadConfig(add_tfds_id=True),
        )
        for row in tfds.as_numpy(dataset):
            yield self._example(row)

    def _example(self, row):
        example_id = row.get(self.id_feature, row[TFDS_ID])
        return SpeechExample(
            id=_text(example_id),
            text=_text(row[self.text_feature]),
            audio=row[self.speech_feature],
            sampling_rate=self.sampling_rate,
        )

    def _speech_rate(self, feature, sampling_rate):
        rate = getattr(feature, "sample_rate", None) or sampling_rate
        if rate is None:
            raise ValueError(
                f"TFDS dataset '{self.dataset_name}': feature "
                f"'{self.speech_feature}' does not record its sampling rate; "
                f"pass `sampling_rate` in Hz."
            )
        return int(rate)

    def _prepare(self, download):
        where = self._builder.data_dir
        if not download:
            raise DatasetUnavailableError(
                f"TFDS dataset '{self.dataset_name}' is not prepared in "
                f"'{where}'. Pass `download=True` to download and prepare it, "
                f"or `data_dir` where it is prepared."
            )
        advice = (
            f"It needs network access to download, or a prepared copy: run "
            f"`tfds.builder('{self.dataset_name}').download_and_prepare()` on "
            f"a machine with network and copy its data directory here, then "
            f"pass it as `data_dir`."
        )
        if downloads_disabled():
            raise DatasetUnavailableError(
                f"TFDS dataset '{self.dataset_name}' is not prepared in "
                f"'{where}' and downloads are disabled ({OFFLINE_ENV}=1). {advice}"
            )
        try:
            self._builder.download_and_prepare()
        except (OSError, tfds.core.download.DownloadError) as error:
            raise DatasetUnavailableError(
                f"Cannot download TFDS dataset '{self.dataset_name}' into "
                f"'{where}': {type(error).__name__}: {error}. {advice}"
            ) from error


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
