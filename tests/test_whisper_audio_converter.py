import inspect
import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf

from whisper import preset_handles
from whisper import preset_io
from whisper.whisper_audio_converter import WhisperAudioConverter

MAX_SAMPLES = 480_000
HOP = 160
TOLERANCE = 1e-4


# An independent NumPy reference, written from the published formula rather
# than from either implementation: float64 throughout, filters built by
# interpolation, frames by a sliding window.


def slaney_hz_to_mel(hz):
    if hz < 1000.0:
        return 3.0 * hz / 200.0
    return 15.0 + 27.0 * math.log(hz / 1000.0) / math.log(6.4)


def slaney_mel_to_hz(mel):
    if mel < 15.0:
        return 200.0 * mel / 3.0
    return 1000.0 * 6.4 ** ((mel - 15.0) / 27.0)


def reference_filterbank(num_mels, num_fft_bins=400, sampling_rate=16000):
    top_mel = slaney_hz_to_mel(8000.0)
    edges = [slaney_mel_to_hz(top_mel * i / (num_mels + 1)) for i in range(num_mels + 2)]
    bin_hz = np.arange(num_fft_bins // 2 + 1) * sampling_rate / num_fft_bins
    bank = np.zeros((bin_hz.size, num_mels))
    for i in range(num_mels):
        low, peak, high = edges[i : i + 3]
        triangle = np.interp(bin_hz, [low, peak, high], [0.0, 1.0, 0.0])
        bank[:, i] = triangle * 2.0 / (high - low)
    return bank


def reference_log_mel(waveform, num_mels):
    padded = np.zeros(MAX_SAMPLES)
    kept = waveform[:MAX_SAMPLES].astype(np.float64)
    padded[: kept.size] = kept
    padded = np.pad(padded, 200, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, 400)[::HOP]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(400) / 400)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = power[:-1] @ reference_filterbank(num_mels)
    log_mel = np.log10(np.maximum(mel, 1e-10))
    log_mel = np.maximum(log_mel, log_mel.max() - 8.0)
    return (log_mel + 4.0) / 4.0


def keras_hub_converter(keras_hub, **kwargs):
    converter = keras_hub.layers.WhisperAudioConverter(**kwargs)
    assert type(converter).__module__.startswith("keras_hub")
    return converter


def max_difference(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# --- Numerical parity -------------------------------------------------------


@pytest.mark.parametrize("num_mels", [80, 128])
def test_filterbank_matches_reference_and_keras_hub(keras_hub, num_mels):
    ours = WhisperAudioConverter(num_mels=num_mels).mel_filters
    theirs = keras_hub_converter(keras_hub, num_mels=num_mels).mel_filters
    assert ours.shape == (201, num_mels) and ours.dtype == np.float32
    assert max_difference(ours, reference_filterbank(num_mels)) < 1e-7
    assert max_difference(ours, theirs) < 1e-7


def test_mel_scale_top_edge_is_8_khz():
    # keras_hub, Hugging Face and OpenAI hard-code this value.
    assert slaney_hz_to_mel(8000.0) == pytest.approx(45.245640471924965)


@pytest.mark.parametrize("num_mels", [80, 128])
@pytest.mark.parametrize("kind, seconds", [("speech", 7.0), ("chirp", 4.0), ("speech", 31.0)])
def test_matches_numpy_reference(make_waveform, num_mels, kind, seconds):
    waveform = make_waveform(kind, seconds)
    features = WhisperAudioConverter(num_mels=num_mels)(waveform)
    assert features.shape == (3000, num_mels)
    assert features.dtype == tf.float32
    expected = reference_log_mel(waveform, num_mels)
    assert max_difference(features, expected) <= TOLERANCE


@pytest.mark.parametrize("num_mels", [80, 128])
def test_matches_keras_hub_single_waveform(keras_hub, make_waveform, num_mels):
    waveform = make_waveform("speech", 6.0)
    ours = WhisperAudioConverter(num_mels=num_mels)(waveform)
    theirs = keras_hub_converter(keras_hub, num_mels=num_mels)(waveform)
    assert ours.shape == theirs.shape == (3000, num_mels)
    assert max_difference(ours, theirs) <= TOLERANCE


@pytest.mark.parametrize("num_mels", [80, 128])
def test_matches_keras_hub_batch(keras_hub, make_waveform, num_mels):
    batch = np.stack([make_waveform("speech", 5.0), make_waveform("chirp", 5.0, seed=1)])
    ours = WhisperAudioConverter(num_mels=num_mels)(batch)
    converter = keras_hub_converter(keras_hub, num_mels=num_mels)
    # keras_hub has two paths: NumPy when eager, TensorFlow when traced.
    eager = converter(batch)
    traced = tf.function(converter)(tf.constant(batch))
    assert ours.shape == (2, 3000, num_mels)
    assert max_difference(ours, eager) <= TOLERANCE
    assert max_difference(ours, traced) <= TOLERANCE


def test_matches_keras_hub_ragged_batch(keras_hub, make_waveform):
    rows = [make_waveform("speech", 3.0), make_waveform("chirp", 1.5)]
    ragged = tf.ragged.constant([row.tolist() for row in rows], dtype=tf.float32)
    ours = WhisperAudioConverter()(ragged)
    theirs = tf.function(keras_hub_converter(keras_hub))(ragged)
    assert max_difference(ours, theirs) <= TOLERANCE
    for row, features in zip(rows, ours):
        assert max_difference(features, WhisperAudioConverter()(row)) < 1e-6


# --- Lengths ----------------------------------------------------------------


def test_long_audio_is_trimmed_to_max_audio_length(make_waveform):
    waveform = make_waveform("speech", 31.0)
    for pad in (True, False):
        converter = WhisperAudioConverter(pad_to_max_audio_length=pad)
        features = converter(waveform)
        assert features.shape == (3000, 80)
        trimmed = converter(waveform[:MAX_SAMPLES])
        assert max_difference(features, trimmed) == 0.0


@pytest.mark.parametrize("num_samples", [0, 159, 160, 201, 16000, 16159, 479999, 480000, 500000])
def test_clip_mode_frame_count(num_samples):
    converter = WhisperAudioConverter(pad_to_max_audio_length=False)
    features = converter(np.zeros(num_samples, dtype=np.float32))
    assert features.shape == (min(num_samples, MAX_SAMPLES) // HOP, 80)
    full = WhisperAudioConverter()(np.zeros(num_samples, dtype=np.float32))
    assert full.shape == (3000, 80)


@pytest.mark.parametrize("num_samples", [16000, 16159, 479900, 480000])
def test_clip_mode_gives_leading_frames_of_full_features(make_waveform, num_samples):
    waveform = make_waveform("speech", num_samples / 16000)
    clip = WhisperAudioConverter(pad_to_max_audio_length=False)(waveform)
    full = WhisperAudioConverter()(waveform)
    assert max_difference(clip, full[: clip.shape[0]]) < 1e-6


def test_clip_mode_batch_rows_share_the_batch_length(make_waveform):
    batch = np.zeros((2, 20000), dtype=np.float32)
    batch[0] = make_waveform("speech", 1.25)
    batch[1, :8000] = make_waveform("chirp", 0.5)
    features = WhisperAudioConverter(pad_to_max_audio_length=False)(batch)
    assert features.shape == (2, 125, 80)
    full = WhisperAudioConverter()(batch)
    assert max_difference(features, full[:, :125]) < 1e-6


# --- Input types ------------------------------------------------------------


def test_integer_pcm_is_scaled_to_unit_range(make_waveform):
    pcm = np.round(make_waveform("speech", 2.0) * 32767).astype(np.int16)
    converter = WhisperAudioConverter()
    expected = converter(pcm.astype(np.float32) / 32768)
    assert max_difference(converter(pcm), expected) < 1e-6
    unsigned = (pcm.astype(np.int32) // 256 + 128).astype(np.uint8)
    expected = converter((unsigned.astype(np.float32) - 128) / 128)
    assert max_difference(converter(unsigned), expected) < 1e-6


def test_keras_hub_casts_integer_pcm_without_scaling(keras_hub, make_waveform):
    # A documented difference: keras_hub feeds int16 values to the FFT as
    # they are; we read them as PCM.
    pcm = np.round(make_waveform("speech", 2.0) * 32767).astype(np.int16)
    theirs = keras_hub_converter(keras_hub)(pcm)
    ours = WhisperAudioConverter()(pcm.astype(np.float32))
    assert max_difference(theirs, ours) <= TOLERANCE
    scaled = WhisperAudioConverter()(pcm)
    assert max_difference(theirs, scaled) > 1.0


def test_output_is_float32_for_any_input_dtype_or_policy(make_waveform):
    waveform = make_waveform("speech", 1.0).astype(np.float64)
    converter = WhisperAudioConverter(dtype="mixed_bfloat16")
    assert converter(waveform).dtype == tf.float32
    assert converter(waveform.tolist()).dtype == tf.float32
    assert converter(tf.constant(waveform, tf.float16)).dtype == tf.float32


@pytest.mark.parametrize(
    "audio, error, message",
    [
        (np.float32(0.5), ValueError, r"received shape \(\) \(rank 0\)"),
        (np.zeros((2, 3, 4)), ValueError, r"received shape \(2, 3, 4\)"),
        (tf.ragged.constant([[[1.0]]]), ValueError, r"\(rank 3\)"),
        (tf.constant(["a", "b"]), TypeError, r"waveform of dtype string"),
        (np.zeros(8, dtype=bool), TypeError, r"dtype bool"),
        ({"samples": 1}, TypeError, r"received dict"),
    ],
)
def test_bad_input_names_what_was_received_and_allowed(audio, error, message):
    with pytest.raises(error, match=message) as raised:
        WhisperAudioConverter()(audio)
    allowed = r"\(samples,\)|float or integer samples"
    assert re.search(allowed, str(raised.value))


# --- Graphs -----------------------------------------------------------------


def test_tf_data_map_single_waveforms(make_waveform):
    batch = np.stack([make_waveform("speech", 2.0, seed=s) for s in range(3)])
    converter = WhisperAudioConverter()
    dataset = tf.data.Dataset.from_tensor_slices(batch).map(converter)
    assert dataset.element_spec.shape == (3000, 80)
    for waveform, features in zip(batch, dataset):
        assert max_difference(features, converter(waveform)) < 1e-6


def test_tf_data_map_batches(make_waveform):
    batch = np.stack([make_waveform("chirp", 2.0, seed=s) for s in range(4)])
    converter = WhisperAudioConverter(num_mels=128)
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(2).map(converter)
    assert dataset.element_spec.shape.as_list() == [None, 3000, 128]
    mapped = np.concatenate([features.numpy() for features in dataset])
    assert max_difference(mapped, converter(batch)) < 1e-6


def test_a_grain_pipeline_gets_numpy_features_as_from_keras_hub(keras_hub, make_waveform):
    import grain

    waveforms = [make_waveform("speech", 2.0, seed=s) for s in range(2)]
    ours = grain.MapDataset.source(waveforms).map(WhisperAudioConverter())
    theirs = grain.MapDataset.source(waveforms).map(keras_hub_converter(keras_hub))
    for index in range(len(waveforms)):
        assert type(ours[index]) is type(theirs[index]) is np.ndarray
        assert ours[index].shape == (3000, 80)
        assert max_difference(ours[index], theirs[index]) < 1e-4
    # Outside Grain, the layer still gives TensorFlow tensors.
    assert isinstance(WhisperAudioConverter()(waveforms[0]), tf.Tensor)


@pytest.mark.parametrize("pad", [True, False])
def test_tf_data_map_variable_length_waveforms(make_waveform, pad):
    lengths = [16000, 4321, 40000]
    waveforms = [make_waveform("speech", n / 16000) for n in lengths]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(waveforms),
        output_signature=tf.TensorSpec((None,), tf.float32),
    )
    converter = WhisperAudioConverter(pad_to_max_audio_length=pad)
    mapped = list(dataset.map(converter))
    for waveform, features in zip(waveforms, mapped):
        frames = 3000 if pad else waveform.size // HOP
        assert features.shape == (frames, 80)
        assert max_difference(features, converter(waveform)) < 1e-6
    ragged = dataset.ragged_batch(3).map(converter)
    (features,) = list(ragged)
    frames = 3000 if pad else max(lengths) // HOP
    assert features.shape == (3, frames, 80)


@pytest.mark.parametrize("pad", [True, False])
def test_xla_compiled_call_matches_eager(make_waveform, pad):
    converter = WhisperAudioConverter(pad_to_max_audio_length=pad)
    compiled = tf.function(converter, jit_compile=True)
    batch = np.stack([make_waveform("speech", 3.0), make_waveform("chirp", 3.0)])
    compiled_features = compiled(tf.constant(batch))
    assert max_difference(compiled_features, converter(batch)) <= 1e-5


# --- Config and presets -----------------------------------------------------


def test_get_config_holds_every_constructor_argument_and_round_trips(
    make_waveform,
):
    converter = WhisperAudioConverter(
        num_mels=128, max_audio_length=10, pad_to_max_audio_length=False
    )
    config = converter.get_config()
    arguments = inspect.signature(WhisperAudioConverter.__init__).parameters
    assert set(arguments) - {"self", "kwargs"} <= set(config)
    restored = WhisperAudioConverter.from_config(config)
    assert restored.get_config() == config
    waveform = make_waveform("speech", 12.0)
    assert restored(waveform).shape == (1000, 128)
    assert max_difference(restored(waveform), converter(waveform)) == 0.0


def test_save_to_preset_writes_the_file_keras_hub_writes(keras_hub, tmp_path):
    name = "whisper_audio_converter"
    ours = WhisperAudioConverter(num_mels=128, name=name)
    ours.save_to_preset(tmp_path / "ours")
    keras_hub_converter(keras_hub, num_mels=128, name=name).save_to_preset(str(tmp_path / "theirs"))
    file = preset_io.AUDIO_CONVERTER_CONFIG_FILE
    written = (tmp_path / "ours" / file).read_text()
    assert written == (tmp_path / "theirs" / file).read_text()


@pytest.mark.parametrize("pad", [True, False])
def test_preset_round_trip(make_waveform, tmp_path, pad):
    converter = WhisperAudioConverter(num_mels=128, pad_to_max_audio_length=pad)
    converter.save_to_preset(tmp_path)
    restored = WhisperAudioConverter.from_preset(str(tmp_path))
    assert restored.get_config() == converter.get_config()
    waveform = make_waveform("chirp", 2.0)
    assert max_difference(restored(waveform), converter(waveform)) == 0.0


def test_from_preset_overrides_and_accepts_our_registered_name(tmp_path):
    WhisperAudioConverter().save_to_preset(tmp_path)
    path = tmp_path / preset_io.AUDIO_CONVERTER_CONFIG_FILE
    data = json.loads(path.read_text())
    data["registered_name"] = "whisper>WhisperAudioConverter"
    path.write_text(json.dumps(data))
    restored = WhisperAudioConverter.from_preset(tmp_path, pad_to_max_audio_length=False)
    assert restored.pad_to_max_audio_length is False


def test_from_preset_rejects_other_classes_and_offline_downloads(tmp_path):
    path = tmp_path / preset_io.AUDIO_CONVERTER_CONFIG_FILE
    other = {"registered_name": "keras_hub>Other", "config": {}}
    path.write_text(json.dumps(other))
    with pytest.raises(preset_io.PresetError, match="keras_hub>Other"):
        WhisperAudioConverter.from_preset(tmp_path)
    with pytest.raises(preset_handles.PresetDownloadError, match="disabled"):
        WhisperAudioConverter.from_preset("whisper_tiny_en")


def test_keras_hub_file_loads_in_ours(keras_hub, keras_hub_preset_dir, make_waveform):
    theirs = keras_hub_converter(keras_hub, num_mels=128, max_audio_length=20)
    theirs.save_to_preset(keras_hub_preset_dir)
    ours = WhisperAudioConverter.from_preset(keras_hub_preset_dir)
    assert type(ours) is WhisperAudioConverter
    assert (ours.num_mels, ours.max_audio_length) == (128, 20)
    assert ours.pad_to_max_audio_length is True
    waveform = make_waveform("speech", 3.0)
    assert max_difference(ours(waveform), theirs(waveform)) <= TOLERANCE


def test_our_file_loads_in_keras_hub(keras_hub, keras_hub_preset_dir, make_waveform):
    ours = WhisperAudioConverter(num_mels=128, max_audio_length=20)
    ours.save_to_preset(keras_hub_preset_dir)
    theirs = keras_hub.layers.WhisperAudioConverter.from_preset(keras_hub_preset_dir)
    assert type(theirs).__module__.startswith("keras_hub")
    assert (theirs.num_mels, theirs.max_audio_length) == (128, 20)
    waveform = make_waveform("chirp", 3.0)
    assert max_difference(theirs(waveform), ours(waveform)) <= TOLERANCE


def test_keras_hub_refuses_a_clip_mode_file(keras_hub, keras_hub_preset_dir):
    # keras_hub cannot compute clip-length features, so it must not load a
    # file asking for them as if it could.
    WhisperAudioConverter(pad_to_max_audio_length=False).save_to_preset(keras_hub_preset_dir)
    with pytest.raises(TypeError, match="pad_to_max_audio_length"):
        keras_hub.layers.WhisperAudioConverter.from_preset(keras_hub_preset_dir)
