"""A worker of a multi-worker run that dies or stops answering ends the run with one line.

Under MultiWorkerMirroredStrategy every step's all-reduce needs every
worker. When one is killed its peers' next collective fails at once
(connection reset); when its host hangs or drops off the network,
TensorFlow's coordination service notices the missing heartbeats (about
10 s) and fails the others. Either way TensorFlow raises an `OpError`
whose text is pages of gRPC detail; `worker_loss_as_error` turns it into
`WorkerLostError`, one line saying what happened and how to resume.

```python
from train.worker_loss import WorkerLostError

print(WorkerLostError.__doc__.splitlines()[0])
```
"""

import contextlib
import re

# The exit status of a run that lost a worker (2: config error, 3: diverged).
WORKER_LOST_STATUS = 4


class WorkerLostError(RuntimeError):
    """Another worker of this multi-worker run died or stopped answering."""


@contextlib.contextmanager
def worker_loss_as_error(strategy, checkpoint_dir):
    """Re-raises a lost peer's `OpError` from the block as `WorkerLostError`.

    Only under MultiWorkerMirroredStrategy: in a single process the same
    errors mean something else and keep their traceback.
    """
    import tensorflow as tf

    lost_peer_errors = (
        tf.errors.UnavailableError,
        tf.errors.AbortedError,
        tf.errors.DeadlineExceededError,
    )
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    try:
        yield
    except lost_peer_errors as error:
        cause = _plain_cause(error.message)
        raise WorkerLostError(
            f"lost contact with another worker ({type(error).__name__}: {cause}). "
            f"Checkpoints are in {checkpoint_dir}; relaunch every worker with the same "
            "command to resume."
        ) from error


def _plain_cause(message, limit=400):
    """TensorFlow's message on one line, without what only helps debug TensorFlow:
    the Python frames of a graph node's definition (indented), graph-node names
    and its generic advice."""
    kept = [
        line
        for line in str(message).splitlines()
        if line.strip()
        and not line[0].isspace()
        and not line.startswith(("Graph execution error", "Detected at node"))
    ]
    text = re.sub(r"\{\{[^}]*\}\}|\[type\.googleapis[^\]]*\]", " ", " ".join(kept))
    text = re.sub(r"The error could be from a previous operation\..*", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
