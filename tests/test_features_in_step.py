"""Log-mel features computed inside the compiled training step (`data.features_in_step`).

The pipeline then emits padded waveforms ("encoder_audio"), and the trainer
converts them with the model's audio converter inside its XLA-compiled
step. These must be the pipeline's features, so the training is the same:
equal features within 1e-5 on real speech, the same loss and gradient, and
a complete `python -m train` run. SpecAugment masks features, so the
combination is refused in one line.
"""

import numpy as np
import pytest
import tensorflow as tf
import train_cli
from model_factory import tiny_backbone
from pipeline_settings import pipeline_settings

from data_pipelines.featurizer import ENCODER_AUDIO
from data_pipelines.featurizer import ENCODER_FEATURES
from data_pipelines.featurizer import with_features_from_audio
from data_pipelines.pipeline import build_dataset
from data_pipelines.speech_example import SpeechExample
from data_pipelines.speech_source import SpeechSource
from data_pipelines.speech_source import round_robin
from train.model import load_tokenizer
from train.strategy import build_strategy
from train.trainer import Trainer
from whisper import WhisperAudioConverter
from whisper import WhisperAudioToText

BATCH_SIZE = 2
WINDOWS = {"30 s windows": False, "clip-length windows": True}


class ClipSource(SpeechSource):
    """The committed speech clips, read from their files."""

    name = "clips"

    def __init__(self, speech_clips):
        self._clips = [
            SpeechExample(id=f"clip-{index}", text=text, path=path)
            for index, (path, text) in enumerate(speech_clips)
        ]

    @property
    def num_examples(self):
        return len(self._clips)

    def _examples(self, shard_index, num_shards):
        return round_robin(iter(self._clips), shard_index, num_shards)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny_en")


def converter_for(clip_length_windows):
    return WhisperAudioConverter(pad_to_max_audio_length=not clip_length_windows)


def batches(speech_clips, tokenizer, converter, clip_length_windows, features_in_step, **kwargs):
    dataset = build_dataset(
        ClipSource(speech_clips),
        tokenizer,
        converter,
        batch_size=BATCH_SIZE,
        **pipeline_settings(
            build_dataset,
            clip_length_windows=clip_length_windows,
            features_in_step=features_in_step,
            **kwargs,
        ),
    )
    return list(dataset.as_numpy_iterator())


@pytest.mark.parametrize("clip_length_windows", WINDOWS.values(), ids=WINDOWS.keys())
def test_in_step_features_equal_the_pipeline_features_on_real_speech(
    speech_clips, tokenizer, clip_length_windows
):
    converter = converter_for(clip_length_windows)
    arguments = (speech_clips, tokenizer, converter, clip_length_windows)
    pipeline_batches = batches(*arguments, features_in_step=False, training=False)
    audio_batches = batches(*arguments, features_in_step=True, training=False)
    in_step = tf.function(
        lambda x: with_features_from_audio(x, converter)[ENCODER_FEATURES], jit_compile=True
    )
    assert len(audio_batches) == len(pipeline_batches) > 1
    for (features_x, features_y), (audio_x, audio_y) in zip(pipeline_batches, audio_batches):
        assert ENCODER_FEATURES not in audio_x and ENCODER_AUDIO not in features_x
        features = in_step(audio_x).numpy()
        assert features.shape == features_x[ENCODER_FEATURES].shape
        assert np.max(np.abs(features - features_x[ENCODER_FEATURES])) <= 1e-5
        np.testing.assert_array_equal(audio_y, features_y)
        for key in ("decoder_token_ids", "decoder_padding_mask"):
            np.testing.assert_array_equal(audio_x[key], features_x[key])


@pytest.mark.slow
@pytest.mark.parametrize("clip_length_windows", WINDOWS.values(), ids=WINDOWS.keys())
def test_a_train_step_on_in_step_features_matches_one_on_pipeline_features(
    speech_clips, tokenizer, clip_length_windows
):
    results = [
        one_step(speech_clips, tokenizer, clip_length_windows, features_in_step)
        for features_in_step in (False, True)
    ]
    (metrics, gradients), (in_step_metrics, in_step_gradients) = results
    assert np.isfinite(metrics["loss"]) and metrics["skipped_update"] == 0.0
    assert any(np.any(gradient != 0) for gradient in gradients)
    for name in ("loss", "grad_norm", "target_tokens"):
        np.testing.assert_allclose(in_step_metrics[name], metrics[name], rtol=1e-5)
    for in_step_gradient, gradient in zip(in_step_gradients, gradients):
        np.testing.assert_allclose(in_step_gradient, gradient, rtol=1e-4, atol=1e-7)


def one_step(speech_clips, tokenizer, clip_length_windows, features_in_step):
    """One XLA-compiled trainer step on a small random model; returns its
    metrics and the gradient (plain SGD at rate 1: minus each weight's change)."""
    strategy = build_strategy("default")
    converter = converter_for(clip_length_windows)
    with strategy.scope():
        backbone = tiny_backbone(seed=0, max_decoder_sequence_length=64)
        model = WhisperAudioToText(backbone, tokenizer=tokenizer, audio_converter=converter)
        optimizer = tf.keras.optimizers.SGD(learning_rate=1.0)
    trainer = Trainer(strategy, model, optimizer, jit_compile=True)
    dataset = build_dataset(
        ClipSource(speech_clips),
        tokenizer,
        converter,
        batch_size=BATCH_SIZE,
        **pipeline_settings(
            build_dataset,
            clip_length_windows=clip_length_windows,
            features_in_step=features_in_step,
            max_label_tokens=63,
        ),
    )
    before = [v.numpy() for v in trainer.trainable_variables]
    batch = next(iter(strategy.distribute_datasets_from_function(lambda _: dataset)))
    metrics = trainer.train_step(batch)
    after = [v.numpy() for v in trainer.trainable_variables]
    return metrics, [old - new for old, new in zip(before, after)]


def test_spec_augment_on_in_step_features_is_refused(speech_clips, tokenizer):
    with pytest.raises(ValueError, match="`spec_augment`.*`features_in_step=True`"):
        batches(speech_clips, tokenizer, converter_for(False), False, True, spec_augment=True)


def test_the_command_line_refuses_spec_augment_with_features_in_step(tmp_path):
    completed = train_cli.run_train(
        "data.features_in_step=true",
        "data.spec_augment=true",
        "tracker=console",
        f"run_dir={tmp_path}/run",
        f"hydra.run.dir={tmp_path}/hydra",
        timeout=300,
    )
    assert completed.returncode == 2, completed.stderr[-3000:]
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), completed.stderr
    assert "data.features_in_step" in lines[0] and "data.spec_augment" in lines[0]
    assert train_cli.MODEL_BUILT not in completed.stdout


@pytest.mark.slow
def test_python_m_train_with_in_step_features_trains_evaluates_and_exports(tmp_path):
    run_dir = tmp_path / "run"
    completed = train_cli.run_train(
        "debug=fast",
        "tracker=console",
        "data.features_in_step=true",
        f"run_dir={run_dir}",
        f"hydra.run.dir={tmp_path}/hydra",
    )
    train_cli.assert_trained(completed, run_dir)
