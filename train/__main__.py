"""python -m train: train or fine-tune Whisper, configured by Hydra.

The recipe, top to bottom: strategy, model and optimizer, data, resume,
tracking, the loop (train, evaluate, checkpoint), export. Every piece is a
small module of this package named after what it builds.

    python -m train                                   # synthetic corpus, small model
    python -m train experiment=finetune_tiny_en      # OpenAI's tiny.en weights
    python -m train +preset=whisper_base_en strategy=mirrored trainer.steps=5000
    python -m train run_dir=outputs/train/<run>       # resume that run
    python -m train -m optimizer.learning_rate=1e-4,3e-4  # a sweep
"""

import os
import time

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from train.config import register_schema
from train.config import validate

register_schema()


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg):
    validate(cfg)
    if cfg.run_dir is None:
        cfg.run_dir = HydraConfig.get().runtime.output_dir
    return run(cfg)


def run(cfg):
    """Trains as `cfg` says; returns the summary it prints."""
    # Imported after validation, which needs no TensorFlow: a bad config
    # fails in about a second instead of after TensorFlow has started.
    import keras

    from train import checkpoints
    from train import evaluate
    from train import optimizer as optimizers
    from train.data import build_run_data
    from train.model import build_model
    from train.model import describe
    from train.strategy import build_strategy
    from train.strategy import is_chief
    from train.tracking import Tracker
    from train.tracking import current_git_state
    from train.trainer import Trainer

    keras.utils.set_random_seed(cfg.seed)
    strategy = build_strategy(
        cfg.strategy.kind, num_cpu_devices=cfg.strategy.num_cpu_devices, tpu=cfg.strategy.tpu
    )
    chief = is_chief(strategy)

    with strategy.scope():
        model = build_model(cfg.model, clip_length_windows=cfg.data.clip_length_windows)
        schedule = optimizers.WarmupDecaySchedule(
            cfg.optimizer.learning_rate,
            cfg.schedule.warmup_steps,
            cfg.trainer.steps,
            kind=cfg.schedule.kind,
            final_learning_rate_fraction=cfg.schedule.final_learning_rate_fraction,
        )
        optimizer = optimizers.build_optimizer(
            model,
            schedule,
            weight_decay=cfg.optimizer.weight_decay,
            beta_1=cfg.optimizer.beta_1,
            beta_2=cfg.optimizer.beta_2,
            epsilon=cfg.optimizer.epsilon,
        )
        trainer = Trainer(
            strategy,
            model,
            optimizer,
            gradient_accumulation_steps=cfg.trainer.gradient_accumulation_steps,
            clip_norm=cfg.optimizer.clip_norm,
            freeze_encoder=cfg.model.freeze_encoder,
            jit_compile=cfg.trainer.jit_compile,
        )
        manager = checkpoints.CheckpointManager(
            cfg.run_dir, model, optimizer, keep=cfg.trainer.keep_checkpoints, is_chief=chief
        )
        resumed = manager.restore_latest()
    start_step = resumed.step if resumed else 0

    data = build_run_data(
        cfg.data,
        model,
        strategy,
        global_batch_size=cfg.trainer.global_batch_size,
        seed=cfg.seed,
        skip_steps=start_step,
    )
    tracker = Tracker(
        cfg.run_dir,
        backends=list(cfg.tracker.backends),
        is_chief=chief,
        project=cfg.tracker.project,
        total_steps=cfg.trainer.steps,
    )
    tracker.log_config(OmegaConf.to_container(cfg, resolve=True), current_git_state(os.getcwd()))
    say = print if chief else (lambda *args: None)
    say(describe(model))
    say(f"Run directory: {os.path.abspath(cfg.run_dir)}")
    if resumed:
        say(f"Resumed from {resumed.path} at step {start_step}.")

    def held_out_wer(step):
        result = evaluate.evaluate(
            model,
            data.eval_examples,
            batch_size=cfg.trainer.eval_batch_size,
            max_length=cfg.trainer.max_decode_length,
            jit_compile=cfg.trainer.jit_compile,
        )
        tracker.log_metrics(step, {"wer": result.wer, "cer": result.cer})
        tracker.log_predictions(step, result.predictions[:5])
        return result

    wer_before = held_out_wer(start_step).wer
    result = None
    iterator = iter(data.train)
    window_start, window_examples, window_audio = time.time(), 0, 0.0
    for step in range(start_step + 1, cfg.trainer.steps + 1):
        batch = next(iterator)
        metrics = trainer.train_step(batch)
        window_examples += metrics["examples"]
        window_audio += audio_seconds(strategy, batch)
        if step % cfg.tracker.log_every_steps == 0 or step == cfg.trainer.steps:
            elapsed = time.time() - window_start
            metrics["examples_per_second"] = window_examples / elapsed
            metrics["audio_seconds_per_second"] = window_audio / elapsed
            metrics["step_time"] = elapsed / cfg.tracker.log_every_steps
            tracker.log_metrics(step, metrics)
            window_start, window_examples, window_audio = time.time(), 0, 0.0
        if step % cfg.trainer.eval_every_steps == 0 or step == cfg.trainer.steps:
            result = held_out_wer(step)
            manager.save_best(result.wer, step)
        if step % cfg.trainer.checkpoint_every_steps == 0 or step == cfg.trainer.steps:
            with strategy.scope():
                manager.save(step, data_position=step)

    wer_after = (result or held_out_wer(cfg.trainer.steps)).wer
    preset_dir = os.path.join(cfg.run_dir, "preset")
    if chief:
        checkpoints.export_preset(model, preset_dir)
    tracker.close()
    summary = {
        "wer_before": wer_before,
        "wer_after": wer_after,
        "best_wer": manager.best_wer,
        "skipped_examples": data.skipped.counts(),
        "run_dir": os.path.abspath(cfg.run_dir),
        "preset": os.path.abspath(preset_dir),
        "checkpoints": os.path.abspath(os.path.join(cfg.run_dir, "checkpoints")),
    }
    say(
        f"Held-out WER {wer_before:.3f} before, {wer_after:.3f} after.\n"
        f"Skipped examples: {data.skipped.summary()}\n"
        f"Preset (loads with WhisperBackbone.from_preset): {summary['preset']}\n"
        f"Checkpoints: {summary['checkpoints']}\n"
        f"Logs (TensorBoard, wandb, run.json): {summary['run_dir']}"
    )
    return summary


def audio_seconds(strategy, batch):
    """Seconds of (padded) audio in a distributed batch: 100 frames a second."""
    features = strategy.experimental_local_results(batch[0]["encoder_features"])
    return sum(int(f.shape[0]) * int(f.shape[1]) for f in features) / 100.0


if __name__ == "__main__":
    main()
