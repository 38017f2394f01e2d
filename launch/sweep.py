"""Sweeps in Hydra's override syntax: `key=a,b` expands to one job per point.

```python
from launch.sweep import expand_sweep

expand_sweep(["optimizer.learning_rate=1e-3,3e-4", "seed=0"])
# [['optimizer.learning_rate=1e-3', 'seed=0'], ['optimizer.learning_rate=3e-4', 'seed=0']]
```

Only comma lists are expanded (the form Hydra's basic sweeper and its
submitit launcher take); a comma inside brackets, braces or quotes belongs to
the value. Points are ordered as Hydra orders them: the last key varies fastest.
"""

import itertools

SWEEP_FUNCTIONS = ("choice(", "range(", "interval(", "glob(", "shuffle(", "sort(")


class SweepError(ValueError):
    """A sweep override the launcher cannot expand."""


def expand_sweep(overrides):
    """One list of overrides per point of the sweep; one list when nothing is swept."""
    choices = [_choices(override) for override in overrides]
    return [list(point) for point in itertools.product(*choices)]


def _choices(override):
    key, equals, value = override.partition("=")
    if not equals or key.startswith("~"):
        return [override]
    if value.startswith(SWEEP_FUNCTIONS):
        raise SweepError(
            f"Override {override!r}: the launcher expands comma lists only; write {key}=a,b,c."
        )
    values = _split_top_level(value)
    return [f"{key}={item}" for item in values]


def _split_top_level(value):
    items, current, depth, quote = [], [], 0, None
    for char in value:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items
