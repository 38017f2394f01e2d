"""Whisper's log-mel spectrogram features, computed with TensorFlow ops."""

import os
import sys

import keras
import numpy as np
import tensorflow as tf

from whisper import preset_io
from whisper.audio_io import pcm_scale
from whisper.preset_handles import resolve_preset

# Whisper's filterbank spans 0-8 kHz whatever `sampling_rate` says; OpenAI,
# Hugging Face and keras_hub all fix the upper edge there.
MEL_MAX_HZ = 8000.0
# Slaney's mel scale is linear (200/3 Hz per mel) below 1 kHz and logarithmic
# above, where 27 mels span a factor of 6.4 in frequency.
SLANEY_LINEAR_HZ_PER_MEL = 200.0 / 3.0
SLANEY_BREAK_HZ = 1000.0
SLANEY_LOG_STEP = np.log(6.4) / 27.0
# Power floor before the log, and how far (in log10 units) a value may sit
# below its example's loudest value before it is clamped.
POWER_FLOOR = 1e-10
DYNAMIC_RANGE = 8.0
# The features of silence: zero power floored at POWER_FLOOR, then scaled.
ALL_SILENT_VALUE = (np.log10(POWER_FLOOR) + 4.0) / 4.0
# Extension keys of ours that keras_hub's converter does not know, with the
# values that make us behave exactly like keras_hub.
EXTENSION_DEFAULTS = {"pad_to_max_audio_length": True}
# Where Grain's pipeline code lives: a call from there runs in its workers.
GRAIN_PIPELINE_CODE = tuple(
    os.path.join("grain", "_src", "python", part) for part in ("dataset", "data_loader")
)


@keras.saving.register_keras_serializable(package="whisper")
class WhisperAudioConverter(keras.layers.Layer):
    """Turns 16 kHz mono waveforms into Whisper's log-mel spectrogram.

    The features are those of OpenAI's Whisper, Hugging Face's
    `WhisperFeatureExtractor` and `keras_hub.layers.WhisperAudioConverter`:
    the waveform is zero-padded or trimmed to `max_audio_length` seconds,
    reflect-padded by `num_fft_bins // 2` samples on each side, cut into
    periodic-Hann windowed frames of `num_fft_bins` samples every `stride`
    samples, turned into a power spectrum whose last frame is dropped, mapped
    onto `num_mels` area-normalised Slaney mel filters over 0-8 kHz, and
    compressed as `log10(max(power, 1e-10))`, clamped to 8 below the example's
    maximum, then shifted and scaled by `(x + 4) / 4`.

    The layer runs TensorFlow ops on TensorFlow tensors whatever the Keras
    backend is, so it can be mapped over a `tf.data.Dataset`, traced in a
    `tf.function` (XLA included) or called eagerly. It returns float32
    features, whatever the layer's dtype policy (the FFT needs full precision
    and the backbone casts its inputs itself): a `tf.Tensor`, or a NumPy
    array when a Grain pipeline calls it, as keras_hub's converters do.

    Input is one waveform of shape `(samples,)`, giving `(frames, num_mels)`,
    or a batch of shape `(batch, samples)` or a ragged batch, giving
    `(batch, frames, num_mels)`. Ragged rows are zero-padded to the longest
    row. Float samples are used as they are (Whisper expects values in
    [-1, 1]). Integer samples are read as PCM and scaled to [-1, 1) by their
    full scale (`whisper.audio_io.pcm_scale`: int16 by 1/32768; unsigned
    types are offset by half their range first; 64-bit integers are
    refused), as OpenAI's and soundfile's loaders do. keras_hub instead
    casts integers unscaled, which shifts every feature by about +2.26 for
    int16 audio.

    With `pad_to_max_audio_length=False`, a waveform is not padded to 30 s:
    it gives `min(samples, max_audio_length * sampling_rate) // stride` frames,
    and these are exactly the first frames of the 30 s features of the same
    waveform, so a model trained on clips sees the numbers it sees at
    inference with full padding. Rows of a batch share the batch's length.
    No rounding to an even frame count is done: the encoder's stride-2
    convolution pads by one frame and maps any `T` frames to `ceil(T / 2)`,
    and extra silent frames would change what the unmasked encoder attends
    to. To bound the number of distinct shapes an XLA program compiles for,
    bucket waveform lengths upstream (for example with
    `tf.data.Dataset.bucket_by_sequence_length`).

    Args:
        num_mels: int. Number of mel filters: 80, or 128 for large-v3.
            Defaults to `80`.
        num_fft_bins: int. Frame length and FFT length of the STFT, in
            samples. Defaults to `400`.
        stride: int. Hop between neighbouring frames, in samples. Defaults
            to `160`.
        sampling_rate: int. Sampling rate of the input waveforms, in Hz.
            Defaults to `16000`.
        max_audio_length: int. Seconds of audio per example; longer audio is
            trimmed. Defaults to `30`.
        pad_to_max_audio_length: bool. Whether shorter audio is zero-padded
            to `max_audio_length` seconds (Whisper's behaviour) or only
            analysed for its own length. Defaults to `True`.
        **kwargs: Passed to `keras.layers.Layer` (`name`, `trainable`,
            `dtype`).

    Example:
    ```python
    import numpy as np
    import tensorflow as tf
    from whisper.whisper_audio_converter import WhisperAudioConverter

    converter = WhisperAudioConverter()
    time = np.arange(16000) / 16000
    waveform = (0.5 * np.sin(2 * np.pi * 440 * time)).astype("float32")
    assert converter(waveform).shape == (3000, 80)

    # A batch, analysed for its own 2 s length instead of 30 s.
    clip_converter = WhisperAudioConverter(pad_to_max_audio_length=False)
    batch = np.zeros((4, 32000), dtype="float32")
    assert clip_converter(batch).shape == (4, 200, 80)

    # Inside a tf.data pipeline, one waveform per element.
    dataset = tf.data.Dataset.from_tensor_slices(batch).map(converter)
    assert dataset.element_spec.shape == (3000, 80)

    # Inside a Grain pipeline, NumPy arrays, as keras_hub's converter gives.
    import grain

    features = grain.MapDataset.source(list(batch)).map(converter)
    assert isinstance(features[0], np.ndarray) and features[0].shape == (3000, 80)
    ```
    """

    def __init__(
        self,
        num_mels=80,
        num_fft_bins=400,
        stride=160,
        sampling_rate=16000,
        max_audio_length=30,
        pad_to_max_audio_length=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Keep inputs as given (TensorFlow tensors, NumPy arrays, lists) rather
        # than converting them to the Keras backend's tensors.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

        self.num_mels = num_mels
        self.num_fft_bins = num_fft_bins
        self.stride = stride
        self.sampling_rate = sampling_rate
        self.max_audio_length = max_audio_length
        self.pad_to_max_audio_length = pad_to_max_audio_length
        self.num_samples = int(sampling_rate * max_audio_length)
        # A NumPy constant: building it needs no TensorFlow graph, and the
        # layer holds no weights.
        self.mel_filters = slaney_mel_filterbank(num_mels, num_fft_bins, sampling_rate)

    def call(self, audio):
        audio, single_waveform = _as_waveform_batch(audio)
        audio = _pcm_to_float(audio)
        num_frames = self._num_frames(_length(audio))
        audio = self._pad_or_trim(audio)
        features = self._log_mel_spectrogram(audio)[:, :num_frames, :]
        if single_waveform:
            features = tf.squeeze(features, axis=0)
        if tf.executing_eagerly() and _called_from_grain():
            # Grain pickles each element between processes; keras_hub's
            # converters give it NumPy there too.
            return features.numpy()
        return features

    def _num_frames(self, num_input_samples):
        if self.pad_to_max_audio_length:
            return self.num_samples // self.stride
        return _minimum(num_input_samples, self.num_samples) // self.stride

    def _analysis_length(self, num_input_samples):
        """Samples each waveform is zero-padded or trimmed to before framing.

        In clip mode, `num_fft_bins` zeros beyond the clip make the kept
        frames, and the example's maximum, equal those of the 30 s features:
        there, too, every window past the clip sees zeros.
        """
        if self.pad_to_max_audio_length:
            return self.num_samples
        return _minimum(
            _minimum(num_input_samples, self.num_samples) + self.num_fft_bins,
            self.num_samples,
        )

    def _pad_or_trim(self, audio):
        num_input_samples = _length(audio)
        target = self._analysis_length(num_input_samples)
        audio = audio[:, :target]
        padding = target - _minimum(num_input_samples, target)
        audio = tf.pad(audio, [[0, 0], [0, padding]])
        if isinstance(target, int):
            audio.set_shape([audio.shape[0], target])
        return audio

    def _log_mel_spectrogram(self, audio):
        half_window = self.num_fft_bins // 2
        audio = tf.pad(audio, [[0, 0], [half_window, half_window]], mode="REFLECT")
        spectrum = tf.signal.stft(
            audio,
            frame_length=self.num_fft_bins,
            frame_step=self.stride,
            fft_length=self.num_fft_bins,
            window_fn=periodic_hann_window,
        )
        # Whisper drops the frame centred on the final padded sample.
        power = tf.square(tf.abs(spectrum[:, :-1, :]))
        mel_power = tf.matmul(power, tf.constant(self.mel_filters))
        log_mel = tf.math.log(tf.maximum(mel_power, POWER_FLOOR)) / np.log(10.0)
        return (_clamp_below_example_max(log_mel) + 4.0) / 4.0

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_mels": self.num_mels,
                "num_fft_bins": self.num_fft_bins,
                "stride": self.stride,
                "sampling_rate": self.sampling_rate,
                "max_audio_length": self.max_audio_length,
                "pad_to_max_audio_length": self.pad_to_max_audio_length,
            }
        )
        return config

    def save_to_preset(self, preset_dir):
        """Writes `audio_converter.json` as keras_hub 0.32 writes it.

        Extension keys are written only when they differ from keras_hub's
        behaviour, so keras_hub loads every file describing features it can
        compute and refuses (by its unknown-argument error) one it cannot.
        """
        os.makedirs(preset_dir, exist_ok=True)
        config = self.get_config()
        for key, default in EXTENSION_DEFAULTS.items():
            if config[key] == default:
                del config[key]
        preset_io.write_serialized(
            os.path.join(preset_dir, preset_io.AUDIO_CONVERTER_CONFIG_FILE),
            self,
            config,
        )

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Builds the converter a preset describes.

        Args:
            preset: a built-in preset name, a `kaggle://` or `hf://` handle,
                or a local preset directory holding `audio_converter.json`
                written by keras_hub or by `save_to_preset`.
            **kwargs: constructor arguments that override the file's.
        """
        preset_dir = resolve_preset(preset)
        config = preset_io.read_serialized(
            os.path.join(preset_dir, preset_io.AUDIO_CONVERTER_CONFIG_FILE),
            cls,
        )
        return cls.from_config({**config, **kwargs})


def slaney_mel_filterbank(num_mels, num_fft_bins, sampling_rate):
    """Area-normalised triangular Slaney mel filters over 0-8 kHz.

    Returns a float32 array of shape `(num_fft_bins // 2 + 1, num_mels)` that
    maps a power spectrum onto mel bands.
    """
    bin_hz = np.fft.rfftfreq(num_fft_bins, d=1.0 / sampling_rate)
    edges_mel = np.linspace(0.0, hz_to_slaney_mel(MEL_MAX_HZ), num_mels + 2)
    edges_hz = slaney_mel_to_hz(edges_mel)
    lower, center, upper = edges_hz[:-2], edges_hz[1:-1], edges_hz[2:]
    rising = (bin_hz[:, None] - lower) / (center - lower)
    falling = (upper - bin_hz[:, None]) / (upper - center)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    # Dividing by half the base gives every triangle unit area, so wide
    # high-frequency bands do not outweigh narrow low ones.
    return (triangles * (2.0 / (upper - lower))).astype(np.float32)


def hz_to_slaney_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / SLANEY_LINEAR_HZ_PER_MEL
    break_mel = SLANEY_BREAK_HZ / SLANEY_LINEAR_HZ_PER_MEL
    logarithmic = (
        break_mel + np.log(np.maximum(hz, SLANEY_BREAK_HZ) / SLANEY_BREAK_HZ) / SLANEY_LOG_STEP
    )
    return np.where(hz < SLANEY_BREAK_HZ, linear, logarithmic)


def slaney_mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    break_mel = SLANEY_BREAK_HZ / SLANEY_LINEAR_HZ_PER_MEL
    linear = mel * SLANEY_LINEAR_HZ_PER_MEL
    logarithmic = SLANEY_BREAK_HZ * np.exp(
        SLANEY_LOG_STEP * (np.maximum(mel, break_mel) - break_mel)
    )
    return np.where(mel < break_mel, linear, logarithmic)


def silence_value(features):
    """The value the converter gives the silent frames of one clip's features.

    Zero power is floored at `POWER_FLOOR` and clamped to `DYNAMIC_RANGE`
    below the clip's loudest value before the (x + 4) / 4 scaling, so
    silence sits exactly 2 below the clip's maximum (or at
    `ALL_SILENT_VALUE`, for a clip that is all silence). Padding features
    with it gives what converting the clip with trailing zeros would have.
    """
    return max(float(np.max(features)) - DYNAMIC_RANGE / 4.0, ALL_SILENT_VALUE)


def periodic_hann_window(length, dtype=tf.float32):
    return tf.signal.hann_window(length, periodic=True, dtype=dtype)


def _called_from_grain():
    """Whether a Grain dataset or data loader is on the calling stack."""
    if "grain" not in sys.modules:
        return False
    frame = sys._getframe(1)
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in GRAIN_PIPELINE_CODE):
            return True
        frame = frame.f_back
    return False


def _clamp_below_example_max(log_mel):
    example_max = tf.reduce_max(log_mel, axis=[1, 2], keepdims=True)
    return tf.maximum(log_mel, example_max - DYNAMIC_RANGE)


def _as_waveform_batch(audio):
    """Returns `audio` as a dense `(batch, samples)` tensor, and whether it
    was a single waveform."""
    if isinstance(audio, tf.RaggedTensor):
        if audio.shape.rank != 2:
            raise ValueError(_rank_message(audio.shape))
        return audio.to_tensor(), False
    try:
        audio = tf.convert_to_tensor(audio)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"WhisperAudioConverter expects a waveform of numbers (a "
            f"tf.Tensor, NumPy array or list of float or integer samples); "
            f"received {type(audio).__name__}: {error}"
        ) from error
    if audio.shape.rank not in (1, 2):
        raise ValueError(_rank_message(audio.shape))
    if audio.shape.rank == 1:
        return audio[None, :], True
    return audio, False


def _rank_message(shape):
    rank = "unknown" if shape.rank is None else shape.rank
    return (
        f"WhisperAudioConverter expects one waveform of shape (samples,) or "
        f"a batch of shape (batch, samples); received shape {shape} "
        f"(rank {rank})."
    )


def _pcm_to_float(audio):
    dtype = audio.dtype
    if dtype.is_floating:
        return tf.cast(audio, tf.float32)
    if dtype.is_integer:
        midpoint, full_scale = pcm_scale(dtype.as_numpy_dtype)
        return (tf.cast(audio, tf.float32) - midpoint) / full_scale
    raise TypeError(
        f"WhisperAudioConverter expects float or integer samples; received "
        f"a waveform of dtype {dtype.name}."
    )


def _length(audio):
    """The number of samples per row: a Python int when known statically."""
    static = audio.shape[-1]
    return static if static is not None else tf.shape(audio)[-1]


def _minimum(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return tf.minimum(a, b)
