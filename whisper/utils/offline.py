"""The project-wide switch that refuses every download.

With `WHISPER_KERAS_OFFLINE=1`, presets, Hugging Face datasets and TFDS
builders that are not already on this machine fail at once with a message
saying what to pass instead, rather than trying an unreachable network.
Tests and air-gapped clusters set it.

Example:

```python
import os
from whisper.utils.offline import OFFLINE_ENV, downloads_disabled

os.environ[OFFLINE_ENV] = "1"
downloads_disabled()  # True
```
"""

import os

OFFLINE_ENV = "WHISPER_KERAS_OFFLINE"


def downloads_disabled():
    """Whether `WHISPER_KERAS_OFFLINE=1` forbids downloads now."""
    return os.environ.get(OFFLINE_ENV) == "1"
