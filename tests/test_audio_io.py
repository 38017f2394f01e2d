import math

import numpy as np
import pytest
import soundfile

from whisper import audio_io
from whisper.audio_io import AudioLoadError
from whisper.audio_io import decode_audio
from whisper.audio_io import load_audio
from whisper.audio_io import resample
from whisper.audio_io import to_mono

SECONDS = 1.5


def sine(frequency, rate, seconds=SECONDS, amplitude=0.5):
    time = np.arange(int(round(seconds * rate))) / rate
    return amplitude * np.sin(2 * np.pi * frequency * time)


def peak_frequency(audio, rate):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.fft.rfftfreq(len(audio), 1 / rate)[spectrum.argmax()]


def rms(audio):
    return float(np.sqrt(np.mean(np.square(audio))))


@pytest.mark.parametrize(
    "name, rate, subtype, channels",
    [
        ("int16.wav", 16000, "PCM_16", 1),
        ("float.wav", 8000, "FLOAT", 1),
        ("pcm24_stereo.wav", 48000, "PCM_24", 2),
        ("tone.flac", 22050, "PCM_16", 1),
        ("stereo.flac", 44100, "PCM_16", 2),
        ("tone.ogg", 44100, "VORBIS", 1),
        ("stereo.ogg", 48000, "VORBIS", 2),
    ],
)
def test_files_load_as_16_khz_mono_keeping_pitch_and_level(tmp_path, name, rate, subtype, channels):
    tone = sine(440.0, rate)
    path = tmp_path / name
    soundfile.write(path, np.stack([tone] * channels, axis=1), rate, subtype=subtype)

    audio = load_audio(path)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == math.ceil(len(tone) * 16000 / rate)
    assert abs(len(audio) - SECONDS * 16000) <= 1
    # One FFT bin of a 1.5 s clip is 2/3 Hz.
    assert peak_frequency(audio, 16000) == pytest.approx(440.0, abs=1.0)
    # Away from the filter's edge transients, the level is the file's.
    assert rms(audio[1000:-1000]) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_other_sampling_rates_are_honoured(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(path, sine(440.0, 44100), 44100)

    audio = load_audio(path, sampling_rate=8000)

    assert len(audio) == SECONDS * 8000
    assert peak_frequency(audio, 8000) == pytest.approx(440.0, abs=1.0)


def test_resampling_removes_tones_above_the_new_nyquist_frequency(tmp_path):
    # 10 kHz cannot be represented at 16 kHz; without an anti-aliasing filter
    # it would fold back to 6 kHz at full level.
    path = tmp_path / "high.wav"
    soundfile.write(path, sine(10000.0, 44100), 44100, subtype="FLOAT")

    audio = load_audio(path)

    assert rms(audio[1000:-1000]) < 0.01 * (0.5 / np.sqrt(2))


def test_channels_are_averaged(tmp_path):
    left, right = sine(440.0, 16000, amplitude=0.6), sine(1000.0, 16000, amplitude=0.2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")

    np.testing.assert_allclose(load_audio(path), (left + right) / 2, atol=1e-6)


def test_integer_pcm_is_scaled_to_unit_range(tmp_path):
    path = tmp_path / "full_scale.wav"
    soundfile.write(path, np.array([-32768, 0, 16384, 32767], "int16"), 16000)

    np.testing.assert_array_equal(load_audio(path), [-1.0, 0.0, 0.5, 32767 / 32768])


def test_bytes_paths_and_in_memory_files_load_like_paths(tmp_path):
    path = tmp_path / "tone.flac"
    soundfile.write(path, sine(440.0, 22050), 22050)
    expected = load_audio(path)

    np.testing.assert_array_equal(load_audio(str(path).encode()), expected)
    np.testing.assert_array_equal(decode_audio(path.read_bytes()), expected)


def test_to_mono_averages_channels_and_keeps_mono_audio():
    stereo = np.array([[1.0, 0.0], [0.5, 0.5], [-1.0, 1.0]], "float32")
    np.testing.assert_array_equal(to_mono(stereo), [0.5, 0.5, 0.0])
    assert to_mono(stereo).dtype == np.float32
    np.testing.assert_array_equal(to_mono(stereo[:, 0]), stereo[:, 0])
    with pytest.raises(ValueError, match="shape"):
        to_mono(np.zeros((2, 2, 2)))


def test_resample_length_identity_and_rate_checks():
    audio = np.ones(441, "float32")
    assert resample(audio, 16000, 16000) is audio
    assert len(resample(audio, 44100, 16000)) == 160
    assert len(resample(audio, 22050.0, 16000)) == 320
    for bad_rate in (0, -16000, 22050.5):
        with pytest.raises(ValueError, match="sampling rate"):
            resample(audio, bad_rate, 16000)


def write_garbage(path):
    path.write_bytes(b"this is not audio " * 64)


def write_empty(path):
    path.write_bytes(b"")


def write_no_frames(path):
    soundfile.write(path, np.zeros((0, 1)), 16000)


def write_nan(path):
    samples = sine(440.0, 16000)
    samples[100] = np.nan
    soundfile.write(path, samples, 16000, subtype="FLOAT")


def write_infinity(path):
    samples = sine(440.0, 16000)
    samples[-1] = np.inf
    soundfile.write(path, samples, 16000, subtype="DOUBLE")


@pytest.mark.parametrize(
    "write, reason, kind",
    [
        (None, "no such file", audio_io.MISSING),
        (write_garbage, "not an audio format libsndfile can read", audio_io.UNREADABLE),
        (write_empty, "the file is empty", audio_io.EMPTY_FILE),
        (write_no_frames, "holds no audio samples", audio_io.EMPTY),
        (write_nan, "NaN or infinite", audio_io.NON_FINITE),
        (write_infinity, "NaN or infinite", audio_io.NON_FINITE),
    ],
)
def test_unusable_files_raise_an_error_naming_the_file(tmp_path, write, reason, kind):
    path = tmp_path / "clip.wav"
    if write is not None:
        write(path)

    with pytest.raises(AudioLoadError, match=reason) as raised:
        load_audio(path)

    assert str(path) in str(raised.value)
    assert raised.value.path == str(path)
    assert raised.value.kind == kind
    assert isinstance(raised.value, OSError)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(AudioLoadError, match="directory") as raised:
        load_audio(tmp_path)
    assert raised.value.kind == audio_io.NOT_A_FILE


def test_undecodable_bytes_are_reported_under_the_given_name():
    with pytest.raises(AudioLoadError, match="gs://bucket/a.wav.*libsndfile"):
        decode_audio(b"not audio" * 10, name="gs://bucket/a.wav")
    with pytest.raises(AudioLoadError, match="<bytes>.*no bytes"):
        decode_audio(b"")
