"""What every Whisper layer builds its sublayers with.

Whisper initializes kernels and embeddings from a truncated normal of
standard deviation 0.02, normalizes with epsilon 1e-5, and keeps softmax and
layer normalization in float32 under mixed precision.

Example:

```python
import keras
from whisper.layer_utils import layer_norm

norm = layer_norm(keras.DTypePolicy("mixed_bfloat16"), "final_norm")
norm.compute_dtype  # 'float32'
```
"""

import keras

LAYER_NORM_EPSILON = 1e-5
INITIALIZER_STDDEV = 0.02


def float32_policy_for(dtype_policy):
    """The policy of layers that must compute in float32 whatever the model's.

    Layer normalization loses too much in (b)float16, so it keeps float32
    variables and computes in float32; Keras casts its inputs up and the next
    layer casts its outputs back down. (Attention casts its scores to
    float32 itself before the softmax.)
    """
    return keras.DTypePolicy("float32") if dtype_policy else None


def whisper_kernel_initializer():
    return keras.initializers.TruncatedNormal(stddev=INITIALIZER_STDDEV)


def layer_norm(dtype_policy, name):
    """Whisper's layer norm (epsilon 1e-5), computing in float32."""
    return keras.layers.LayerNormalization(
        epsilon=LAYER_NORM_EPSILON, dtype=float32_policy_for(dtype_policy), name=name
    )


def dense(units, dtype_policy, name):
    """A biased dense layer with Whisper's kernel initializer."""
    return keras.layers.Dense(
        units,
        kernel_initializer=whisper_kernel_initializer(),
        dtype=dtype_policy,
        name=name,
    )
