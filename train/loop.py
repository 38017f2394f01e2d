"""The training loop: step, log, evaluate, checkpoint, until done or asked to stop.

`TrainingLoop(cfg, strategy, trainer, manager, data, tracker, stop).run(start_step)`
is the loop of `python -m train`, after everything it needs is built:

1. a training step on the next batch (`train.trainer.Trainer`), which the
   run's data follows in its record stream (`train.data.RunData.consume`);
2. every `tracker.log_every_steps`, the step's metrics and the speed since
   the last logged step, as `train/...` (`eval/...` for evaluation);
3. skipped updates counted, stopping a run that diverged
   (`train.skipped_updates`);
4. every `trainer.eval_every_steps`, the held-out WER, and `best/`;
5. every `trainer.checkpoint_every_steps`, or once SIGTERM or Ctrl-C
   arrived, a checkpoint with each input pipeline's place in its record
   stream; after such a signal the loop returns at once (`train.preemption`:
   `stop`, a `StopRequest` active for the whole run). A signal that came
   before the first step stops the run before it, with nothing to save.
"""

import dataclasses
import functools
import time

from data_pipelines.featurizer import ENCODER_AUDIO
from data_pipelines.featurizer import ENCODER_FEATURES
from train import evaluate
from train.skipped_updates import SkippedUpdates
from train.strategy import wait_for_every_worker
from whisper.audio_io import WHISPER_SAMPLING_RATE

# Where a checkpoint keeps each input pipeline's place in its record stream.
INPUT_PIPELINES = "input_pipelines"


class TrainingLoop:
    """Steps, logs, evaluates and checkpoints until the last step or a stop signal."""

    def __init__(self, cfg, strategy, trainer, manager, data, tracker, stop):
        self.cfg = cfg
        self.strategy = strategy
        self.trainer = trainer
        self.manager = manager
        self.data = data
        self.tracker = tracker
        self.stop = stop

    def run(self, start_step):
        cfg = self.cfg.trainer
        wer_before = self.held_out_wer(start_step).wer
        result = None
        skipped = SkippedUpdates(self.cfg.trainer.max_skipped_updates_in_a_row)
        if self.stop.agreed(self.strategy):
            return LoopOutcome(wer_before, None, skipped.total, stopped_at=start_step)
        window = ThroughputWindow(self.strategy)
        iterator = iter(self.data.train)
        self.trainer.trace_once_for(iterator.element_spec)
        for step in range(start_step + 1, cfg.steps + 1):
            step_start = time.time()
            batch = next(iterator)
            metrics = self.trainer.train_step(batch)
            window.add(metrics, batch, time.time() - step_start)
            self.data.consume(batch)
            if step % self.cfg.tracker.log_every_steps == 0 or step == cfg.steps:
                rates = window.rates()
                self.tracker.log_metrics(step, prefixed("train", {**metrics, **rates}))
            skipped.record(step, metrics, functools.partial(self.data.example_ids, batch))
            if step % cfg.eval_every_steps == 0 or step == cfg.steps:
                result = self.held_out_wer(step)
                self.manager.save_best(result.wer, step)
            stopping = self.stop.agreed(self.strategy)
            if stopping or step % cfg.checkpoint_every_steps == 0 or step == cfg.steps:
                extra = {INPUT_PIPELINES: self.data.stream_states()}
                with self.strategy.scope():
                    self.manager.save(step, data_position=step, extra=extra)
            if stopping:
                wait_for_every_worker(self.strategy)
                return LoopOutcome(wer_before, None, skipped.total, stopped_at=step)
        wer_after = (result or self.held_out_wer(cfg.steps)).wer
        return LoopOutcome(wer_before, wer_after, skipped.total, stopped_at=None)

    def held_out_wer(self, step):
        result = evaluate.evaluate(
            self.trainer.model,
            self.data.eval_examples,
            batch_size=self.cfg.trainer.eval_batch_size,
            max_length=self.cfg.trainer.max_decode_length,
            jit_compile=self.cfg.trainer.jit_compile,
        )
        self.tracker.log_metrics(step, prefixed("eval", {"wer": result.wer, "cer": result.cer}))
        self.tracker.log_predictions(step, result.predictions[:5])
        return result


@dataclasses.dataclass(frozen=True)
class LoopOutcome:
    wer_before: float
    # None when stopped early by a signal, after step `stopped_at`.
    wer_after: float | None
    skipped_updates: int
    stopped_at: int | None


class ThroughputWindow:
    """Training speed over the steps since the last logged one.

    Only the steps count (waiting for data included), not evaluation or
    checkpoints between them, so the ETA is the time training needs.
    """

    def __init__(self, strategy):
        self.strategy = strategy
        self._reset()

    def add(self, metrics, batch, seconds):
        self.steps += 1
        self.seconds += seconds
        self.examples += metrics["examples"]
        self.audio += audio_seconds(self.strategy, batch)

    def rates(self):
        rates = {
            "examples_per_second": self.examples / self.seconds,
            "audio_seconds_per_second": self.audio / self.seconds,
            "step_time": self.seconds / self.steps,
        }
        self._reset()
        return rates

    def _reset(self):
        self.steps, self.seconds, self.examples, self.audio = 0, 0.0, 0, 0.0


def prefixed(group, metrics):
    """Metric names as every backend shows them: `train/loss`, `eval/wer`."""
    return {f"{group}/{name}": value for name, value in metrics.items()}


def audio_seconds(strategy, batch):
    """Seconds of (padded) audio in a distributed batch: 100 frames a second,
    or 16,000 samples for the waveforms of `data.features_in_step`."""
    x = batch[0]
    key, per_second = (
        (ENCODER_AUDIO, WHISPER_SAMPLING_RATE) if ENCODER_AUDIO in x else (ENCODER_FEATURES, 100)
    )
    rows = strategy.experimental_local_results(x[key])
    return sum(int(r.shape[0]) * int(r.shape[1]) for r in rows) / per_second
