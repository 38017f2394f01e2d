"""How a configuration that cannot be used is reported: `ConfigError`, a
message naming the key, and one line on stderr with an exit status.

Errors of the parts a run builds (a manifest that names a missing column, a
download that fails) become `ConfigError`s naming the key that would fix
them (`blame`, `download_advice`); `one_line_errors` prints the line and
exits. This module imports neither Keras nor TensorFlow.

Example:

```python
from train.config_errors import ConfigError, blame

try:
    with blame("data.train.path", FileNotFoundError):
        raise FileNotFoundError("'train.jsonl' does not exist.")
except ConfigError as error:
    print(error)  # Config key data.train.path: 'train.jsonl' does not exist.
```
"""

import contextlib
import os
import sys

# What a key naming a preset or tokenizer takes instead of a download.
LOCAL_COPY = (
    "/path/to/preset, a local copy (a keras_hub preset, transformers or CTranslate2 directory)"
)


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message names the key."""


@contextlib.contextmanager
def one_line_errors(error_type, status):
    """Ends the process with one line on stderr and `status` for `error_type`."""
    try:
        yield
    except error_type as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"Error: {error}", file=sys.stderr)
        raise SystemExit(status) from None


@contextlib.contextmanager
def blame(key, *error_types):
    """Re-raises `error_types` from the block as a `ConfigError` naming `key`,
    or `key.<argument>` for an error whose `argument` names the argument
    under `key` that would fix it (a manifest's `audio_column`)."""
    try:
        yield
    except ConfigError:
        raise  # Already names its key.
    except error_types as error:
        message = " ".join(str(error).split())
        argument = getattr(error, "argument", None)
        where = f"{key}.{argument}" if argument else key
        raise ConfigError(f"Config key {where}: {message}") from error


@contextlib.contextmanager
def download_advice(key):
    """Re-raises a failed preset download as a `ConfigError` naming `key`
    and the override that takes a local copy instead."""
    from whisper.preset_handles import PresetDownloadError

    try:
        yield
    except PresetDownloadError as error:
        raise ConfigError(
            f"Config key {key}: '{error.handle}' could not be downloaded ({error.reason}); "
            f"pass {key}={LOCAL_COPY}"
        ) from error
