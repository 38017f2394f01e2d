"""How long clip-length windows get. TensorFlow-free, so that the config
checks, which run before TensorFlow loads, apply the featurizer's rule.

Example:

```python
from data_pipelines.window_lengths import longest_clip_window_frames

longest_clip_window_frames(29.5, frames_per_second=100)  # 3000: 30 s
longest_clip_window_frames(7.0, frames_per_second=100)  # 800: 8 s
```
"""

import math

# Clip-length features are padded to a multiple of this: 2 s (200 frames)
# bounds the shapes XLA compiles to 15 while padding a clip by under 2 s.
CLIP_PADDING_SECONDS = 2.0


def longest_clip_window_frames(max_audio_seconds, frames_per_second):
    """Frames of the longest clip-length window: `max_audio_seconds` rounded
    up to a multiple of `CLIP_PADDING_SECONDS`."""
    multiple = round(CLIP_PADDING_SECONDS * frames_per_second)
    return math.ceil(max_audio_seconds * frames_per_second / multiple) * multiple
