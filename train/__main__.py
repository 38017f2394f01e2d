"""python -m train: train or fine-tune Whisper, configured by Hydra.

The recipe, top to bottom: check the configuration, strategy, data sources
and tokenizer, model and optimizer, resume, tracking, the loop (train,
evaluate, checkpoint, stop on SIGTERM or Ctrl-C), export. Every piece is a
small module of this package named after what it builds.

    python -m train                                   # synthetic corpus, small model
    python -m train experiment=finetune_tiny_en      # OpenAI's tiny.en weights
    python -m train +preset=whisper_base_en strategy=mirrored trainer.steps=5000
    python -m train run_dir=outputs/train/<run>       # resume that run
    python -m train -m optimizer.learning_rate=1e-4,3e-4  # a sweep
"""

import os
import sys
import types

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from train.architecture import architecture_of
from train.architecture import effective_architecture
from train.config import CONFIG_DIR
from train.config import register_schema
from train.config_errors import ConfigError
from train.config_errors import blame
from train.config_errors import download_advice
from train.config_errors import one_line_errors
from train.preemption import INTERRUPTED_STATUS
from train.preemption import StopRequest
from train.skipped_updates import DivergedError
from train.validation import check_architecture
from train.validation import check_batch_split
from train.validation import check_tokenizer
from train.validation import tokenizer_source
from train.validation import validate
from train.worker_loss import WORKER_LOST_STATUS
from train.worker_loss import WorkerLostError
from train.worker_loss import worker_loss_as_error
from whisper.utils.quiet_import import import_tensorflow_quietly

register_schema()


# The exit status of every configuration that cannot be used.
CONFIG_ERROR_STATUS = 2
# Whether Hydra composed the configuration and started the task.
_task = types.SimpleNamespace(started=False)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg):
    _task.started = True
    with (
        one_line_errors(ConfigError, status=CONFIG_ERROR_STATUS),
        one_line_errors(DivergedError, status=3),
        one_line_errors(WorkerLostError, status=WORKER_LOST_STATUS),
    ):
        validate(cfg)
        if cfg.run_dir is None:
            cfg.run_dir = HydraConfig.get().runtime.output_dir
        return run(cfg)


def run(cfg):
    """Trains as `cfg` (already validated) says; returns the summary it prints.

    SIGTERM or Ctrl-C from here on stops the run at a step boundary with a
    checkpoint (`train.preemption`), and `SystemExit` with 143 or 130.
    """
    with StopRequest() as stop:
        return train(cfg, stop)


def train(cfg, stop):
    # Imported after validation, which needs no TensorFlow: a bad config
    # fails in about a second instead of after TensorFlow has started. Its
    # C++ start-up lines would bury a one-line error.
    import_tensorflow_quietly()
    import keras

    from train import checkpoints
    from train.data import build_run_data
    from train.data import build_sources
    from train.fine_tuning import footprint
    from train.loop import INPUT_PIPELINES
    from train.loop import TrainingLoop
    from train.model import build_model
    from train.model import describe
    from train.model import load_tokenizer
    from train.strategy import build_strategy
    from train.strategy import is_chief
    from train.strategy import wait_for_every_worker
    from train.tracking import Tracker

    keras.utils.set_random_seed(cfg.seed)
    with blame("strategy.kind", RuntimeError, ValueError):
        strategy = build_strategy(
            cfg.strategy.kind, num_cpu_devices=cfg.strategy.num_cpu_devices, tpu=cfg.strategy.tpu
        )
    check_batch_split(cfg, strategy.num_replicas_in_sync)
    chief = is_chief(strategy)
    sources = build_sources(cfg.data)
    architecture = effective_architecture(cfg.model)
    tokenizer_key = "model.tokenizer" if cfg.model.tokenizer else "model.preset"
    with blame(tokenizer_key, OSError, ValueError), download_advice(tokenizer_key):
        tokenizer = load_tokenizer(tokenizer_source(cfg.model))
    check_tokenizer(cfg, tokenizer, architecture and architecture["vocabulary_size"])

    with strategy.scope():
        with blame("model.preset", OSError, ValueError), download_advice("model.preset"):
            model = build_model(cfg.model, tokenizer, cfg.data.clip_length_windows)
        if architecture is None:  # An imported checkpoint: known once built.
            check_architecture(cfg, architecture_of(model.backbone.get_config()))
        trainer, manager = build_trainer(cfg, strategy, model, chief)
        resumed = manager.restore_latest()
    start_step = resumed.step if resumed else 0

    data = build_run_data(
        cfg.data,
        sources,
        model,
        strategy,
        global_batch_size=cfg.trainer.global_batch_size,
        seed=cfg.seed,
        stream_states=resumed.extra[INPUT_PIPELINES] if resumed else None,
    )
    tracker = Tracker(
        cfg.run_dir,
        backends=list(cfg.tracker.backends),
        is_chief=chief,
        project=cfg.tracker.project,
        total_steps=cfg.trainer.steps,
    )
    tracker.log_config(OmegaConf.to_container(cfg, resolve=True))
    say = print if chief else (lambda *args: None)
    say(describe(model))
    trained = footprint(model, trainer.optimizer)
    say(describe_footprint(trained))
    say(f"Run directory: {os.path.abspath(cfg.run_dir)}")
    if resumed:
        say(f"Resumed from {resumed.path} at step {start_step}.")

    loop = TrainingLoop(cfg, strategy, trainer, manager, data, tracker, stop)
    with worker_loss_as_error(strategy, os.path.abspath(manager.checkpoint_dir)):
        outcome = loop.run(start_step)
    if outcome.stopped_at is not None:
        # Every worker: each one's log says why it exited.
        print(describe_stop(stop, outcome.stopped_at, start_step, manager.checkpoint_dir))
        tracker.close()
        raise SystemExit(stop.stopped_status)

    preset_dir = os.path.join(cfg.run_dir, "preset")
    if chief:
        checkpoints.export_preset(model, preset_dir)
    summary = {
        "wer_before": outcome.wer_before,
        "wer_after": outcome.wer_after,
        "best_wer": manager.best_wer,
        "skipped_examples": data.skipped.counts(),
        "skipped_updates": outcome.skipped_updates,
        **trained,
        "run_dir": os.path.abspath(cfg.run_dir),
        "preset": os.path.abspath(preset_dir),
        "checkpoints": os.path.abspath(manager.checkpoint_dir),
    }
    tracker.log_summary({key: summary[key] for key in RUN_RECORD_SUMMARY})
    tracker.close()
    # Workers leave together: one that exits while the chief still exports
    # stops answering the coordination service's heartbeats, which then
    # reports it as crashed.
    wait_for_every_worker(strategy)
    say(
        f"Held-out WER {outcome.wer_before:.3f} before, {outcome.wer_after:.3f} after.\n"
        f"{data.skipped.summary()}\n"
        f"Skipped updates (non-finite loss or gradient): {outcome.skipped_updates}\n"
        f"Preset (loads with WhisperBackbone.from_preset): {summary['preset']}\n"
        f"Checkpoints: {summary['checkpoints']}\n"
        f"Logs (TensorBoard, wandb, run.json): {summary['run_dir']}"
    )
    return summary


# What run.json gets from the summary at the end of a run.
RUN_RECORD_SUMMARY = (
    "wer_before",
    "wer_after",
    "best_wer",
    "skipped_examples",
    "skipped_updates",
    "trainable_parameters",
    "parameters",
    "optimizer_slot_bytes",
)


def describe_stop(stop, stopped_at, start_step, checkpoint_dir):
    where = os.path.abspath(checkpoint_dir)
    if stopped_at == start_step:
        return (
            f"Stopped by {stop.signal_name} before step {start_step + 1}: nothing new to "
            f"save. Run the same command to resume from {where}."
        )
    return (
        f"Stopped by {stop.signal_name} after step {stopped_at}: checkpoint saved in "
        f"{where}. Run the same command to resume."
    )


def describe_footprint(trained):
    share = trained["trainable_parameters"] / trained["parameters"]
    slot_mebibytes = trained["optimizer_slot_bytes"] / 2**20
    return (
        f"Training {trained['trainable_parameters']:,} of {trained['parameters']:,} "
        f"parameters ({share:.2%}); optimizer slots {slot_mebibytes:.2f} MiB"
    )


def build_trainer(cfg, strategy, model, chief):
    """What trains, the optimizer, its schedule, the train step and the checkpoints."""
    from train import checkpoints
    from train import optimizer as optimizers
    from train.fine_tuning import FineTuning
    from train.trainer import Trainer

    FineTuning.from_config(cfg.model).apply(model)  # Before the optimizer: its slots.

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
        jit_compile=cfg.trainer.jit_compile,
        rematerialize=cfg.trainer.rematerialize,
    )
    manager = checkpoints.CheckpointManager(
        cfg.run_dir, model, optimizer, keep=cfg.trainer.keep_checkpoints, is_chief=chief
    )
    return trainer, manager


def command_line():
    """`python -m train`: Hydra's own configuration errors (an unknown key, a
    value of the wrong type, a bad override) exit with `CONFIG_ERROR_STATUS`
    as the run's checks do, not Hydra's 1, and Ctrl-C before the run starts
    ends in one line with 130."""
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted before training started: nothing to save.", file=sys.stderr)
        raise SystemExit(INTERRUPTED_STATUS) from None
    except SystemExit as exit:
        # Hydra exits 1 for any error it reports: a configuration it could
        # not compose (before the task starts) or an error of the task.
        if exit.code == 1 and not _task.started:
            raise SystemExit(CONFIG_ERROR_STATUS) from None
        raise


if __name__ == "__main__":
    command_line()
