"""Log-mel features padded to a few lengths, and batches of one length.

Whisper is trained on 30 s of features per example; short clips can train
several times faster on features only as long as the clip. XLA compiles one
program per input shape, though, so `Featurizer` pads each waveform up to
one of a few lengths (every 2 s by default) before computing its features,
and batches together examples padded to the same length. The waveform, not
the features, is padded, so padded frames hold exactly what Whisper's 30 s
features hold there.

For accelerators, the features can instead be computed inside the compiled
training step: `pad_audio` pads the waveform just as `featurize` does but
stops there, and the step applies `with_features_from_audio` with the
model's audio converter, giving the same features (within 1e-5) from
16 kHz waveforms.

Example:

```python
import numpy as np
import tensorflow as tf
from data_pipelines.featurizer import Featurizer
from whisper import WhisperAudioConverter

featurizer = Featurizer(
    WhisperAudioConverter(pad_to_max_audio_length=False),
    max_audio_seconds=10,
    clip_length_windows=True,
    min_window_seconds=0,
)
featurizer.padded_lengths  # [32000, 64000, 96000, 128000, 160000] samples
waveforms = [np.zeros(n, "float32") for n in (8000, 40000, 20000, 60000)]
examples = tf.data.Dataset.from_generator(
    lambda: ({"waveform": w} for w in waveforms),
    output_signature={"waveform": tf.TensorSpec((None,), tf.float32)},
).map(featurizer.featurize)
batches = featurizer.batch(examples, 2, padding_values=None, drop_remainder=False)
[b["encoder_features"].shape[1] for b in batches]  # [200, 400]: 2 s and 4 s
```
"""

import math

import tensorflow as tf

from data_pipelines.window_lengths import CLIP_PADDING_SECONDS

# The model's input key for log-mel features, and the pipeline's for the
# padded waveforms the training step turns into them.
ENCODER_FEATURES = "encoder_features"
ENCODER_AUDIO = "encoder_audio"


class Featurizer:
    """Computes each example's features at its padded length; batches them.

    `max_audio_seconds`, `clip_length_windows` and `min_window_seconds` are
    the run's settings: `python -m train` passes its config's `data.` keys
    of those names.

    Args:
        audio_converter: a `WhisperAudioConverter`; with clip-length
            windows, one with `pad_to_max_audio_length=False`.
        max_audio_seconds: float. The longest clip to expect; at most the
            converter's `max_audio_length`.
        clip_length_windows: bool. `False` pads every waveform to the
            converter's 30 s; `True` to its length bucket.
        min_window_seconds: float, only with clip-length windows: no window
            is shorter, however short its clip (rounded up to
            `audio_padding_multiple_seconds`). Pretrained Whisper, which saw
            30 s windows only, is reported to loop and hallucinate after
            fine-tuning on very short ones; about 10 s is reported safe.
            0 pads each clip to its own bucket.
        bucket_boundaries: list of seconds, only with clip-length windows:
            a waveform is padded up to the first boundary at least its
            length, each boundary rounded up to
            `audio_padding_multiple_seconds`, the last being
            `max_audio_seconds` rounded up. `None` uses every multiple.
        audio_padding_multiple_seconds: float. A whole number of frames.

    Attributes:
        padded_lengths: the sorted sample counts waveforms are padded to.
    """

    def __init__(
        self,
        audio_converter,
        *,
        max_audio_seconds,
        clip_length_windows,
        min_window_seconds,
        bucket_boundaries=None,
        audio_padding_multiple_seconds=CLIP_PADDING_SECONDS,
    ):
        self.audio_converter = audio_converter
        self.clip_length_windows = clip_length_windows
        check_audio_converter(audio_converter, max_audio_seconds, clip_length_windows)
        for name, value in (("bucket_boundaries", bucket_boundaries),
                            ("min_window_seconds", min_window_seconds)):  # fmt: skip
            if value and not clip_length_windows:
                raise ValueError(
                    f"`{name}` needs `clip_length_windows=True`: 30 s features all have one length."
                )
        if clip_length_windows:
            self.padded_lengths = _clip_padded_lengths(
                audio_converter,
                max_audio_seconds,
                audio_padding_multiple_seconds,
                bucket_boundaries,
                min_window_seconds,
            )
        else:
            self.padded_lengths = [audio_converter.num_samples]

    def featurize(self, example):
        """Replaces `"waveform"` by `"encoder_features"`, `"num_frames"`
        (the unpadded frames) and `"bucket"` (its padded length's index)."""
        example = self.pad_audio(example)
        features = self.audio_converter(example.pop(ENCODER_AUDIO))
        features.set_shape([self._static_frames(), self.audio_converter.num_mels])
        example[ENCODER_FEATURES] = features
        return example

    def pad_audio(self, example):
        """Replaces `"waveform"` by `"encoder_audio"`, the waveform padded as
        `featurize` pads it, for features computed in the training step
        (`with_features_from_audio`), and adds `"num_frames"` and `"bucket"`."""
        example = dict(example)
        waveform = example.pop("waveform")
        num_samples = tf.shape(waveform)[0]
        # The first padded length holding the clip; zero-padding the
        # waveform (not the features) makes the padded frames exactly those
        # of Whisper's 30 s features.
        lengths = tf.constant(self.padded_lengths)
        bucket = tf.searchsorted(lengths, num_samples[None], side="left")[0]
        padded_length = tf.gather(self.padded_lengths, bucket)
        waveform = tf.pad(waveform, [[0, padded_length - num_samples]])
        waveform.set_shape([None if self.clip_length_windows else self.padded_lengths[0]])
        example[ENCODER_AUDIO] = waveform
        example["num_frames"] = num_samples // self.audio_converter.stride
        example["bucket"] = bucket
        return example

    def _static_frames(self):
        if self.clip_length_windows:
            return None
        return self.audio_converter.num_samples // self.audio_converter.stride

    def batch(self, examples, batch_size, padding_values, drop_remainder):
        """Batches in which every row has the same number of frames."""
        if not self.clip_length_windows:
            return examples.padded_batch(
                batch_size,
                padding_values=padding_values,
                drop_remainder=drop_remainder,
            )
        return examples.group_by_window(
            key_func=lambda example: tf.cast(example["bucket"], tf.int64),
            reduce_func=lambda _, window: window.padded_batch(
                batch_size,
                padding_values=padding_values,
                drop_remainder=drop_remainder,
            ),
            window_size=batch_size,
        )


def with_features_from_audio(inputs, audio_converter):
    """`inputs` with `"encoder_audio"` (batch, samples) replaced by its
    `"encoder_features"`, as `Featurizer.featurize` computes them; inputs
    without audio are returned as they are.

    Traceable inside an XLA-compiled training step: the converter's rows
    are independent (each clamped below its own maximum), so converting a
    batch gives each example's features.
    """
    if ENCODER_AUDIO not in inputs:
        return inputs
    inputs = dict(inputs)
    inputs[ENCODER_FEATURES] = audio_converter(inputs.pop(ENCODER_AUDIO))
    return inputs


def _clip_padded_lengths(
    audio_converter, max_audio_seconds, multiple_seconds, bucket_boundaries, min_window_seconds
):
    """Sorted sample counts that clip-length waveforms are padded up to."""
    rate = audio_converter.sampling_rate
    multiple = round(multiple_seconds * rate)
    if multiple <= 0 or multiple % audio_converter.stride:
        raise ValueError(
            f"`audio_padding_multiple_seconds` must be a positive whole number "
            f"of {audio_converter.stride}-sample frames at {rate} Hz, got "
            f"{multiple_seconds!r}."
        )

    def padded(samples):
        rounded_up = math.ceil(samples / multiple) * multiple
        return min(rounded_up, audio_converter.num_samples)

    longest = padded(math.ceil(max_audio_seconds * rate))
    if bucket_boundaries is None:
        boundaries = range(multiple, longest, multiple)
    else:
        boundaries = [round(seconds * rate) for seconds in bucket_boundaries]
    if not 0 <= min_window_seconds <= max_audio_seconds:
        raise ValueError(
            f"`min_window_seconds` must be in [0, max_audio_seconds={max_audio_seconds}], "
            f"got {min_window_seconds!r}."
        )
    shortest = padded(math.ceil(min_window_seconds * rate))  # 0: no minimum.
    lengths = {padded(samples) for samples in boundaries if 0 < samples < longest}
    return sorted({max(length, shortest) for length in lengths} | {longest})


def check_audio_converter(audio_converter, max_audio_seconds, clip_length_windows):
    """Raises ValueError if the converter cannot give the features asked for."""
    if clip_length_windows and audio_converter.pad_to_max_audio_length:
        raise ValueError(
            "`clip_length_windows=True` needs an audio converter with "
            "`pad_to_max_audio_length=False`; this one pads every clip to "
            f"{audio_converter.max_audio_length} s."
        )
    if max_audio_seconds > audio_converter.max_audio_length:
        raise ValueError(
            f"`max_audio_seconds` ({max_audio_seconds}) exceeds the audio "
            f"converter's `max_audio_length` ({audio_converter.max_audio_length} "
            f"s); longer clips would lose their end."
        )
