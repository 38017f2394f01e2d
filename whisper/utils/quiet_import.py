"""Importing TensorFlow without its C++ start-up lines.

TensorFlow prints several INFO lines to stderr when it loads (oneDNN, CPU
instructions), before `TF_CPP_MIN_LOG_LEVEL` takes effect, which would bury
a one-line error message or a transcript. Unless the user set
`TF_CPP_MIN_LOG_LEVEL` (then they asked for what it gives), they are
silenced during the import, and later INFO lines are off.

Example:

```python
from whisper.utils.quiet_import import import_tensorflow_quietly

tf = import_tensorflow_quietly()
tf.constant(1.0).numpy()  # 1.0
```
"""

import os
import sys

LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"


def import_tensorflow_quietly():
    """`import tensorflow`, with stderr closed while TensorFlow loads."""
    if "tensorflow" in sys.modules or LOG_LEVEL_ENV in os.environ:
        import tensorflow

        return tensorflow
    os.environ[LOG_LEVEL_ENV] = "1"
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow
    finally:
        # Python errors raised by the import are printed after this.
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
    return tensorflow
