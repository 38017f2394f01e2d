"""SpecAugment's frequency and time masking of log-mel features.

Park et al., "SpecAugment: A Simple Data Augmentation Method for Automatic
Speech Recognition" (2019), regularise a speech model by hiding random bands
of mel channels and random stretches of time from each training example.
This is that masking (without time warping), in TensorFlow ops for a
`tf.data` pipeline, with stateless random numbers: the same seed always
masks the same bands, so a resumed run sees the masks it would have seen.

Example:

```python
import numpy as np
import tensorflow as tf
from data_pipelines.spec_augment import SpecAugment

augment = SpecAugment(num_time_masks=1, max_time_mask_width=20)
features = tf.random.normal((2, 300, 80))  # (batch, frames, mels)
num_frames = tf.constant([300, 150])  # row 1 is padded after frame 150
masked = augment(features, num_frames, seed=tf.constant([0, 7]))
again = augment(features, num_frames, seed=tf.constant([0, 7]))
assert np.array_equal(masked, again)
```
"""

import tensorflow as tf


class SpecAugment:
    """Masks random mel bands and time spans of each example in a batch.

    Each example gets `num_frequency_masks` bands of up to
    `max_frequency_mask_width` consecutive mel channels, and
    `num_time_masks` spans of up to `max_time_mask_width` consecutive
    frames, each span at most `max_time_mask_fraction` of the example's own
    length (Park et al.'s `p`, so that a short clip is not wiped out). Widths
    are uniform from zero to their maximum and positions uniform over where
    the mask fits. Time masks fall within an example's `num_frames` real
    frames, never on padding. Masked values become the mean of the example's
    real frames, a neutral level for Whisper's log-mel scale, on which zero
    is not silence.

    The defaults are Park et al.'s LibriSpeech "LD" policy (F=27, two
    frequency masks, T=100, two time masks) with their Switchboard limit
    p=0.2, since fine-tuning clips are often short.

    Args:
        num_frequency_masks: int. Bands of mel channels per example.
        max_frequency_mask_width: int. Widest band, in mel channels.
        num_time_masks: int. Spans of frames per example.
        max_time_mask_width: int. Longest span, in frames (10 ms each).
        max_time_mask_fraction: float in [0, 1]. Longest span as a fraction
            of the example's real frames.
    """

    def __init__(
        self,
        num_frequency_masks=2,
        max_frequency_mask_width=27,
        num_time_masks=2,
        max_time_mask_width=100,
        max_time_mask_fraction=0.2,
    ):
        for name, value in (
            ("num_frequency_masks", num_frequency_masks),
            ("max_frequency_mask_width", max_frequency_mask_width),
            ("num_time_masks", num_time_masks),
            ("max_time_mask_width", max_time_mask_width),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"SpecAugment's `{name}` must be a non-negative int, got {value!r}."
                )
        if not 0.0 <= max_time_mask_fraction <= 1.0:
            raise ValueError(
                f"SpecAugment's `max_time_mask_fraction` must lie in [0, 1], "
                f"got {max_time_mask_fraction!r}."
            )
        self.num_frequency_masks = num_frequency_masks
        self.max_frequency_mask_width = max_frequency_mask_width
        self.num_time_masks = num_time_masks
        self.max_time_mask_width = max_time_mask_width
        self.max_time_mask_fraction = max_time_mask_fraction

    def __call__(self, features, num_frames, seed):
        """Returns `features` with masked bands and spans.

        Args:
            features: float tensor `(batch, frames, mels)`.
            num_frames: int tensor `(batch,)`: real (unpadded) frames per row.
            seed: int tensor of shape `(2,)`, a stateless random seed.
        """
        batch_size = tf.shape(features)[0]
        total_frames = tf.shape(features)[1]
        num_mels = tf.shape(features)[2]
        num_frames = tf.minimum(tf.cast(num_frames, tf.int32), total_frames)
        frequency_seed, time_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        frequency_masked = _random_bands(
            frequency_seed,
            self.num_frequency_masks,
            max_width=tf.fill([batch_size], tf.minimum(self.max_frequency_mask_width, num_mels)),
            extent=tf.fill([batch_size], num_mels),
            size=num_mels,
        )
        time_masked = _random_bands(
            time_seed,
            self.num_time_masks,
            max_width=self._max_time_mask_widths(num_frames),
            extent=num_frames,
            size=total_frames,
        )
        masked = frequency_masked[:, None, :] | time_masked[:, :, None]
        fill = _mean_of_real_frames(features, num_frames)
        return tf.where(masked, fill[:, None, None], features)

    def _max_time_mask_widths(self, num_frames):
        by_fraction = tf.cast(
            tf.floor(self.max_time_mask_fraction * tf.cast(num_frames, tf.float32)),
            tf.int32,
        )
        return tf.minimum(self.max_time_mask_width, by_fraction)

    def get_config(self):
        return {
            "num_frequency_masks": self.num_frequency_masks,
            "max_frequency_mask_width": self.max_frequency_mask_width,
            "num_time_masks": self.num_time_masks,
            "max_time_mask_width": self.max_time_mask_width,
            "max_time_mask_fraction": self.max_time_mask_fraction,
        }

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"SpecAugment({arguments})"


def _random_bands(seed, num_bands, max_width, extent, size):
    """A `(batch, size)` bool mask: `num_bands` random bands per row.

    Row `i` gets bands of width uniform in `[0, max_width[i]]`, placed
    uniformly within its first `extent[i]` positions.
    """
    batch_size = tf.shape(extent)[0]
    # Uniform floats scaled and floored rather than integer draws, whose
    # bounds would have to be the same for every row.
    width_draws, start_draws = tf.unstack(
        tf.random.stateless_uniform([2, batch_size, num_bands], seed)
    )
    max_width = tf.cast(max_width, tf.float32)[:, None]
    widths = tf.floor(width_draws * (max_width + 1.0))
    room = tf.cast(extent, tf.float32)[:, None] - widths + 1.0
    starts = tf.floor(start_draws * room)
    positions = tf.cast(tf.range(size), tf.float32)[None, None, :]
    inside = (positions >= starts[..., None]) & (positions < (starts + widths)[..., None])
    return tf.reduce_any(inside, axis=1)


def _mean_of_real_frames(features, num_frames):
    real = tf.sequence_mask(num_frames, tf.shape(features)[1], features.dtype)
    total = tf.reduce_sum(features * real[:, :, None], axis=[1, 2])
    count = tf.cast(num_frames * tf.shape(features)[2], features.dtype)
    return total / tf.maximum(count, 1.0)
