"""Reading JSON files, and writing text and JSON files atomically.

Every JSON file the project reads or writes (presets, checkpoints' state,
run records, manifests of the synthetic corpus) goes through here. Writes go
to a temporary file beside the target, are flushed to disk, then renamed
over it, so a reader (or a run killed mid-write) never sees half a file.

Example:

```python
from whisper.utils.json_io import read_json, write_json

write_json("settings.json", {"language": "en"})
read_json("settings.json")  # {'language': 'en'}
try:
    read_json("absent.json", error=FileNotFoundError)
except FileNotFoundError as error:
    print(error)  # 'absent.json' does not exist.
```
"""

import json
import os
import tempfile

# os.umask can only be read by setting it; done once, at import, rather than
# on every write, when another thread might be creating files.
_UMASK = os.umask(0)
os.umask(_UMASK)


def read_json(path, error=ValueError):
    """The JSON value stored at `path`.

    Args:
        path: the file.
        error: the exception class raised, with a message naming the file,
            when it is missing or not JSON; callers pass their domain's
            (`PresetError`, `CorruptCheckpointError`, ...).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise error(f"'{path}' does not exist.")
    with open(path, encoding="utf-8") as file:
        try:
            return json.load(file)
        except (json.JSONDecodeError, UnicodeDecodeError) as decode_error:
            raise error(f"'{path}' is not JSON: {decode_error}") from None


def write_json(path, data, indent=4):
    """Writes `data` as JSON to `path`, atomically."""
    write_text(path, json.dumps(data, indent=indent))


def write_text(path, text):
    """Writes `text` to `path` through a temporary file renamed into place."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private; give it the mode `open` would.
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
