"""A cluster as every engine describes it to TensorFlow: workers in rank order, and this rank.

```python
from launch.cluster import Cluster

cluster = Cluster(("10.0.0.1:2222", "10.0.0.2:2222"), rank=1, origin="local")
print(cluster.tf_config()["task"])  # {'type': 'worker', 'index': 1}
```
"""

import dataclasses


class ClusterError(ValueError):
    """The environment does not describe a cluster this rank can join."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Every worker's host:port in rank order, this process's rank, and who said so."""

    workers: tuple
    rank: int
    origin: str

    def __post_init__(self):
        if not 0 <= self.rank < len(self.workers):
            raise ClusterError(
                f"{self.origin}: rank {self.rank} is outside the {len(self.workers)} workers "
                f"{list(self.workers)}."
            )

    def tf_config(self):
        return {
            "cluster": {"worker": list(self.workers)},
            "task": {"type": "worker", "index": self.rank},
        }

    def hosts(self):
        """The distinct host names, in rank order."""
        return list(dict.fromkeys(worker.rpartition(":")[0] for worker in self.workers))
