"""PyTorch's weight layout, as transformers and CTranslate2 store Whisper.

torch's Linear stores (out, in) and Conv1d (out, in, width); Keras kernels
are (in, out) and (width, in, out), and keras_hub's attention kernels split
the projected side into (heads, head_dim). Tables and vectors are the same
in both. Both foreign formats convert through here, by the `layout` of a
`WeightSpec`.

Example:

```python
import numpy as np
from whisper.convert.keras_hub_layout import PROJECTION
from whisper.convert.torch_layout import from_torch, to_torch

weight = np.arange(32.0).reshape(8, 4)  # a query projection: (out, in)
kernel = from_torch(PROJECTION, weight, num_heads=2)  # (4, 2, 4)
assert (to_torch(PROJECTION, kernel) == weight).all()
```
"""

from whisper.convert.keras_hub_layout import CONV
from whisper.convert.keras_hub_layout import DENSE
from whisper.convert.keras_hub_layout import OUTPUT
from whisper.convert.keras_hub_layout import PROJECTION
from whisper.convert.keras_hub_layout import PROJECTION_BIAS


def from_torch(layout, array, num_heads):
    """A tensor in torch's layout as keras_hub's dataset of `layout`."""
    if layout == CONV:
        return array.transpose(2, 1, 0)
    if layout == DENSE:
        return array.T
    if layout == PROJECTION:
        return array.T.reshape(array.shape[1], num_heads, -1)
    if layout == PROJECTION_BIAS:
        return array.reshape(num_heads, -1)
    if layout == OUTPUT:
        return array.T.reshape(num_heads, -1, array.shape[0])
    return array


def to_torch(layout, array):
    """A keras_hub dataset of `layout` in torch's layout; undoes `from_torch`."""
    if layout == CONV:
        return array.transpose(2, 1, 0)
    if layout == DENSE:
        return array.T
    if layout == PROJECTION:
        return array.reshape(array.shape[0], -1).T
    if layout == PROJECTION_BIAS:
        return array.reshape(-1)
    if layout == OUTPUT:
        return array.reshape(-1, array.shape[-1]).T
    return array


def torch_shape(layout, shape):
    """The shape in torch's layout of a keras_hub dataset of `layout` and `shape`."""
    if layout in (CONV, DENSE):
        return tuple(reversed(shape))
    if layout == PROJECTION:
        return (shape[1] * shape[2], shape[0])
    if layout == PROJECTION_BIAS:
        return (shape[0] * shape[1],)
    if layout == OUTPUT:
        return (shape[2], shape[0] * shape[1])
    return tuple(shape)
