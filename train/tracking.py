"""Experiment tracking: wandb, TensorBoard and console lines from one call.

```python
from train.tracking import Tracker

with Tracker("run", backends=["console", "tensorboard"], total_steps=100) as tracker:
    tracker.log_config({"trainer": {"steps": 100}})
    tracker.log_metrics(10, {"train/loss": 0.71, "train/lr": 3e-5})
    tracker.log_predictions(10, [("clip-1", "Hello there.", "hello there")])
```

Metric names are free; the console knows how to show these:
`train/loss`, `train/lr`, `train/grad_norm`, `train/examples_per_second`,
`train/audio_seconds_per_second`, `train/step_time` (seconds),
`eval/wer` and `eval/cer` (fractions, shown as percentages).

The tracker logs whatever it is given: how often is the caller's choice
(e.g. every `log_every_steps`). Only the chief logs; elsewhere every method
does nothing.
"""

import datetime
import json
import logging
import netrc
import os
import platform
import re
import subprocess
import sys
import urllib.parse
import uuid

from whisper.utils.json_io import write_json

logger = logging.getLogger(__name__)

BACKENDS = ("console", "tensorboard", "wandb")
RUN_FILE = "run.json"
TENSORBOARD_DIR = "tensorboard"
WANDB_RUN_ID_FILE = "wandb_run_id"
WANDB_MODES = ("online", "offline", "disabled")
# Predictions the console prints; the other backends get them all.
CONSOLE_PREDICTIONS = 5
DEFAULT_WANDB_HOST = "https://api.wandb.ai"
# Names of keys and environment variables whose values are secrets.
SECRET_NAME = re.compile(r"(api_?key|_key$|^key$|token|secret|password|passwd|credential)", re.I)
REDACTED = "<redacted>"


class Tracker:
    """Sends configuration, metrics and predictions to every chosen backend.

    Args:
        run_dir: the run's directory: run.json, `tensorboard/`, and wandb's
            files under `wandb/` go there.
        backends: any of "console", "tensorboard", "wandb".
        is_chief: whether this process logs.
        project: the wandb project.
        run_name: the wandb run name; defaults to the run directory's name.
        wandb_mode: "online", "offline" or "disabled"; None picks WANDB_MODE
            if set, else online when logged in (WANDB_API_KEY or a netrc
            entry) and offline otherwise. Nothing ever prompts.
        total_steps: the run's length, for the console's progress and ETA.
        stream: where console lines go; defaults to standard output.
    """

    def __init__(
        self,
        run_dir,
        *,
        backends=BACKENDS,
        is_chief=True,
        project="whisper-keras",
        run_name=None,
        wandb_mode=None,
        total_steps=None,
        stream=None,
    ):
        unknown = sorted(set(backends) - set(BACKENDS))
        if unknown:
            raise ValueError(f"Unknown tracking backends {unknown}; known: {BACKENDS}.")
        self.run_dir = os.fspath(run_dir)
        self.is_chief = is_chief
        self._backends = []
        if not is_chief:
            return
        os.makedirs(self.run_dir, exist_ok=True)
        if "console" in backends:
            self._backends.append(ConsoleBackend(stream or sys.stdout, total_steps))
        if "tensorboard" in backends:
            self._backends.append(TensorBoardBackend(self.run_dir))
        if "wandb" in backends:
            run_name = run_name or os.path.basename(os.path.abspath(self.run_dir))
            self._backends.append(WandbBackend(self.run_dir, project, run_name, wandb_mode))

    def log_config(self, config):
        """Records the resolved configuration and the code's git state.

        Writes run.json in the run directory (see `run_record`) and sends it
        to the backends.
        """
        if not self.is_chief:
            return
        self._record = run_record(config)
        self._write_record()
        for backend in self._backends:
            backend.log_config(self._record)

    def log_summary(self, summary):
        """Adds the run's end-of-run summary (JSON values) to run.json."""
        if not self.is_chief:
            return
        self._record = {**self._record, **summary}
        self._write_record()

    def _write_record(self):
        write_json(os.path.join(self.run_dir, RUN_FILE), self._record)

    def log_metrics(self, step, metrics):
        """Logs scalars (numbers, NumPy or tensor scalars) at `step`."""
        if not self.is_chief:
            return
        metrics = {name: float(value) for name, value in metrics.items()}
        for backend in self._backends:
            backend.log_metrics(int(step), metrics)

    def log_predictions(self, step, rows):
        """Logs (id, reference, hypothesis) rows, e.g. `result.predictions`."""
        if not self.is_chief:
            return
        rows = [tuple(str(value) for value in row) for row in rows]
        for backend in self._backends:
            backend.log_predictions(int(step), rows)

    def close(self):
        """Flushes and closes every backend; the tracker logs nothing after."""
        backends, self._backends = self._backends, []
        for backend in backends:
            backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def run_record(config):
    """What run.json holds: the config, the code's git commit (40 hex digits)
    and whether it had uncommitted changes, when and where."""
    return {
        "config": redact_secrets(config),
        **current_git_state(os.path.dirname(os.path.abspath(__file__))),
        "started_at": _now(),
        "host": platform.node(),
        "command": redact_secrets(sys.argv),
        "versions": _versions(),
    }


def redact_secrets(value, environ=None):
    """`value` (JSON-like) with every secret replaced by `REDACTED`.

    A secret is the value of a key named like one (`SECRET_NAME`: api_key,
    token, password, ...), a `name=value` string with such a name (a command
    line override), or the value of an environment variable named like one
    (WANDB_API_KEY, HF_TOKEN, KAGGLE_KEY, ...) wherever it appears, since an
    override can carry it under any name.
    """
    environ = os.environ if environ is None else environ
    secrets = [v for k, v in environ.items() if SECRET_NAME.search(k) and len(v) >= 4]

    def redact(item, name=""):
        if SECRET_NAME.search(name) and item is not None:
            return REDACTED
        if isinstance(item, dict):
            return {key: redact(inner, str(key)) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [redact(inner) for inner in item]
        if isinstance(item, str):
            key, equals, _ = item.partition("=")
            if equals and SECRET_NAME.search(key):
                return f"{key}={REDACTED}"
            for secret in secrets:
                item = item.replace(secret, REDACTED)
        return item

    return redact(value)


def current_git_state(directory):
    """{"git_commit", "git_dirty"} of the repository holding `directory`;
    both None outside a repository or without git."""
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    changes = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(changes)}


def _git(directory, *arguments):
    try:
        completed = subprocess.run(
            ["git", *arguments],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _versions():
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


# Console ----------------------------------------------------------------------


class ConsoleBackend:
    """One plain line per `log_metrics` call, readable in a log file:

    step 120/1000 (12%) | loss 2.3456 | lr 1.00e-04 | 35.1 examples/s | eta 13m20s
    """

    def __init__(self, stream, total_steps=None):
        self.stream = stream
        self.total_steps = total_steps

    def log_config(self, record):
        dirty = " (uncommitted changes)" if record["git_dirty"] else ""
        self._print(f"git commit {record['git_commit'] or 'unknown'}{dirty}")

    def log_metrics(self, step, metrics):
        parts = [self._progress(step)]
        parts += [format_metric(name, value) for name, value in metrics.items()]
        step_time = metrics.get("train/step_time")
        if self.total_steps and step_time is not None:
            remaining = max(self.total_steps - step, 0) * step_time
            parts.append(f"eta {format_duration(remaining)}")
        self._print(" | ".join(parts))

    def log_predictions(self, step, rows):
        shown = rows[:CONSOLE_PREDICTIONS]
        self._print(f"step {step}: {len(shown)} of {len(rows)} predictions")
        for example_id, reference, hypothesis in shown:
            self._print(f"  {example_id}")
            self._print(f"    reference:  {reference}")
            self._print(f"    hypothesis: {hypothesis}")

    def close(self):
        self.stream.flush()

    def _progress(self, step):
        if not self.total_steps:
            return f"step {step}"
        return f"step {step}/{self.total_steps} ({step / self.total_steps:.0%})"

    def _print(self, line):
        print(line, file=self.stream, flush=True)


def format_metric(name, value):
    """A metric as the console shows it, e.g. "lr 3.00e-05", "eval/wer 8.12%"."""
    label = name.removeprefix("train/")
    kind = label.rsplit("/", 1)[-1]
    if kind == "examples_per_second":
        return f"{value:.1f} examples/s"
    if kind == "audio_seconds_per_second":
        return f"{value:.1f} audio s/s"
    if kind == "step_time":
        return f"{value:.2f} s/step"
    if kind in ("wer", "cer"):
        return f"{label} {value:.2%}"
    if kind in ("lr", "learning_rate"):
        return f"{label} {value:.2e}"
    if kind.endswith("loss"):
        return f"{label} {value:.4f}"
    return f"{label} {value:.4g}"


def format_duration(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s"


# TensorBoard ------------------------------------------------------------------


class TensorBoardBackend:
    """Scalars, and the config and predictions as text, in `run_dir/tensorboard`."""

    def __init__(self, run_dir):
        import tensorflow as tf

        self._summary = tf.summary
        logdir = os.path.join(run_dir, TENSORBOARD_DIR)
        self.writer = tf.summary.create_file_writer(logdir)

    def log_config(self, record):
        text = "```\n" + json.dumps(record, indent=2, default=str) + "\n```"
        with self.writer.as_default():
            self._summary.text("config", text, step=0)

    def log_metrics(self, step, metrics):
        with self.writer.as_default():
            for name, value in metrics.items():
                self._summary.scalar(name, value, step=step)

    def log_predictions(self, step, rows):
        with self.writer.as_default():
            self._summary.text("eval/predictions", markdown_table(rows), step=step)

    def close(self):
        self.writer.flush()
        self.writer.close()


def markdown_table(rows):
    """(id, reference, hypothesis) rows as a Markdown table, which
    TensorBoard's text tab renders."""
    lines = ["| id | reference | hypothesis |", "| --- | --- | --- |"]
    for row in rows:
        cells = [str(cell).replace("|", "\\|").replace("\n", " ") for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# wandb ------------------------------------------------------------------------


class WandbBackend:
    """A wandb run, offline unless logged in, with files under `run_dir/wandb`.

    The run id is kept in the run directory, so a resumed training run
    continues the same wandb run. Metrics are plotted against our `step`
    (wandb's own step keeps counting up), so steps repeated after a resume
    from an earlier checkpoint are kept rather than dropped.
    """

    def __init__(self, run_dir, project, run_name, mode=None):
        import wandb

        self._wandb = wandb
        mode = resolve_wandb_mode(mode)
        run_id = _persistent_run_id(run_dir)
        try:
            self.run = self._init(run_dir, project, run_name, run_id, mode)
        except wandb.errors.CommError as error:
            if mode != "online":
                raise
            logger.warning(
                "wandb could not reach its server (%s); logging offline. Upload "
                "later with `wandb sync %s`.",
                error,
                os.path.join(run_dir, "wandb"),
            )
            self.run = self._init(run_dir, project, run_name, run_id, "offline")
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")

    def _init(self, run_dir, project, run_name, run_id, mode):
        # wandb records the command line in its metadata when it starts;
        # an override may carry a secret.
        argv = sys.argv
        sys.argv = redact_secrets(argv)
        try:
            return self._wandb.init(
                project=project,
                name=run_name,
                id=run_id,
                resume="allow",
                dir=run_dir,
                settings=self._wandb.Settings(mode=mode),
            )
        finally:
            sys.argv = argv

    def log_config(self, record):
        self.run.config.update(
            {**record["config"], "git_commit": record["git_commit"]},
            allow_val_change=True,
        )

    def log_metrics(self, step, metrics):
        self.run.log({**metrics, "step": step})

    def log_predictions(self, step, rows):
        table = self._wandb.Table(
            columns=["id", "reference", "hypothesis"], data=[list(row) for row in rows]
        )
        self.run.log({"eval/predictions": table, "step": step})

    def close(self):
        self.run.finish()


def resolve_wandb_mode(mode=None):
    """The wandb mode to run in; never one that would prompt for a login.

    An explicit `mode`, else WANDB_MODE, else "online" when credentials exist
    (WANDB_API_KEY or a netrc entry for the wandb host) and "offline"
    otherwise.
    """
    mode = mode or os.environ.get("WANDB_MODE") or None
    if mode is None:
        return "online" if wandb_logged_in() else "offline"
    mode = {"dryrun": "offline", "run": "online"}.get(mode, mode)
    if mode not in WANDB_MODES:
        raise ValueError(f"wandb mode must be one of {WANDB_MODES}, got {mode!r}.")
    if mode == "online" and not wandb_logged_in():
        raise ValueError(
            "wandb online mode needs credentials: set WANDB_API_KEY or run "
            "`wandb login`, or log offline (WANDB_MODE=offline)."
        )
    return mode


def wandb_logged_in():
    """Whether wandb has credentials: WANDB_API_KEY or a netrc entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urllib.parse.urlparse(os.environ.get("WANDB_BASE_URL", DEFAULT_WANDB_HOST)).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _persistent_run_id(run_dir):
    """The run directory's wandb run id, made on first use."""
    path = os.path.join(run_dir, WANDB_RUN_ID_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    run_id = uuid.uuid4().hex[:12]
    with open(path, "w", encoding="utf-8") as file:
        file.write(run_id + "\n")
    return run_id
