"""The kinds a run's configuration chooses among, stated once.

`train.config` checks a configuration against these before TensorFlow is
imported, and the modules that implement each kind (`train.strategy`,
`train.optimizer`, `train.model`) use the same constants, so a kind
is added in one place. Kinds owned by lighter modules keep their own
homes: data sources in `data_pipelines.source_factory`, tasks in
`whisper.special_tokens`, tracking backends in `train.tracking`.

Example:

```python
from train.choices import STRATEGY_KINDS

"mirrored" in STRATEGY_KINDS  # True
```
"""

# How a run spreads over devices (see train.strategy).
STRATEGY_KINDS = ("default", "mirrored", "multi_worker", "tpu")
# The shape of the learning-rate decay after warmup (see train.optimizer).
SCHEDULE_KINDS = ("linear", "cosine")
# The Keras dtype policies a run may train under; float16 adds loss scaling.
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
# What the training step recomputes in the backward pass instead of keeping
# (see train.trainer): nothing, attention probabilities, or whole layers.
REMATERIALIZATION_MODES = ("none", "attention", "layers")
# The layers LoRA can adapt (see train.fine_tuning): the query, key, value and
# output projections of every self- and cross-attention, and the two dense
# layers of every feedforward block (transformers' q_proj, k_proj, v_proj,
# out_proj, fc1, fc2).
LORA_TARGETS = ("query", "key", "value", "output", "feedforward_intermediate", "feedforward_output")
