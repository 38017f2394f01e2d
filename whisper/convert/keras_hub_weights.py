"""Our backbone's variables as keras_hub's datasets: `model.weights.h5` read and written.

Our layers differ from keras_hub's: query, key and value projections are
fused into one matmul. Each of our variables is therefore the concatenation,
along its last axis, of one or more `WeightSpec` datasets of
`keras_hub_layout` reshaped to equal parts of it (a fused self-attention
kernel is `[query | key | value]`). Saving splits, loading joins; every
format's importer hands its weights over as keras_hub datasets and
`assign_keras_hub_arrays` checks and assigns them.

Layers with LoRA enabled save their kernels with the adapters merged in
(float32), so the datasets are a plain keras_hub model's; loading assigns
the kernels themselves.

Example:

```python
from whisper.convert.keras_hub_weights import keras_hub_arrays
from whisper.whisper_backbone import WhisperBackbone

backbone = WhisperBackbone(
    vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=8,
    intermediate_dim=16, max_encoder_sequence_length=20,
    max_decoder_sequence_length=10,
)
arrays = keras_hub_arrays(backbone)
arrays["layers/whisper_encoder/_self_attention_layer/key_dense/vars/0"].shape  # (8, 2, 4)
```
"""

import os

import h5py
import numpy as np

from whisper.convert.keras_hub_layout import keras_hub_layout
from whisper.preset_io import PresetError
from whisper.preset_io import refuse_unsafe_files

# Weights are numbers: float, signed or unsigned integer datasets.
NUMERIC_KINDS = "fiu"
# HDF5's built-in filters (deflate, shuffle, fletcher32, szip, nbit,
# scaleoffset) and h5py's lzf. Any other id would make HDF5 load a filter
# plugin, a shared library, to read the dataset.
BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})


class VariableMap:
    """One of our variables and the keras_hub datasets (`specs`) it is made of.

    `read` gives the value to save: the variable's, or a kernel's with its
    LoRA adapters merged.
    """

    def __init__(self, variable, num_parts, read):
        self.variable = variable
        self.specs = [None] * num_parts
        self.read = read

    def split(self):
        value = np.asarray(self.read(), dtype="float32")
        parts = np.split(value, len(self.specs), axis=-1)
        return [part.reshape(spec.shape) for part, spec in zip(parts, self.specs)]

    def join(self, arrays):
        shape = tuple(self.variable.shape)
        part_shape = shape[:-1] + (shape[-1] // len(self.specs),)
        parts = [np.asarray(array).reshape(part_shape) for array in arrays]
        return np.concatenate(parts, axis=-1)


def variable_maps(backbone):
    """Every variable of `backbone`, with the keras_hub datasets it joins."""
    maps = {}
    for spec in keras_hub_layout(backbone.get_config()):
        variable, part, num_parts, read = _variable_part(backbone, spec)
        variable_map = maps.setdefault(id(variable), VariableMap(variable, num_parts, read))
        variable_map.specs[part] = spec
    return list(maps.values())


def _variable_part(backbone, spec):
    """(variable, part, parts, read): `spec` is part `part` of `parts` of the
    variable, whose saved value `read` gives."""
    stack = backbone.encoder if spec.stack == "encoder" else backbone.decoder
    owner = stack if spec.layer is None else stack.transformer_layers[spec.layer]
    layer = getattr(owner, spec.block)
    if spec.block == "token_embedding":
        return _whole(layer.embeddings)
    if spec.param == "table":
        return _whole(layer)  # The position tables are variables of the stack.
    if spec.projection is not None:
        return _attention_part(layer, spec)
    if spec.param == "kernel" and getattr(layer, "lora_enabled", False):
        return _dense_kernel_with_lora(layer)
    return _whole(getattr(layer, spec.param))


def _whole(variable):
    return variable, 0, 1, variable.numpy


def _dense_kernel_with_lora(dense):
    """A LoRA-enabled Dense's own kernel, saved merged in float32.

    Keras's `dense.kernel` merges in the compute dtype, which would round a
    mixed-precision run's export to (b)float16.
    """
    (kernel,) = [weight for weight in dense.weights if weight.name == "kernel"]
    scale = dense.lora_alpha / dense.lora_rank

    def read():
        delta = np.asarray(dense.lora_kernel_a.numpy()) @ np.asarray(dense.lora_kernel_b.numpy())
        return np.asarray(kernel.numpy(), "float32") + scale * delta

    return kernel, 0, 1, read


def _attention_part(attention, spec):
    projection = spec.projection
    if spec.param == "bias":
        return _whole(getattr(attention, f"{projection}_bias"))
    # The kernel holding the projection, and the projections it fuses.
    ((name, fused),) = [
        (name, fused) for name, fused in attention.kernel_projections.items() if projection in fused
    ]
    variable = getattr(attention, name)

    def read():
        return np.asarray(attention.merged_kernel(name).numpy(), "float32")

    return variable, fused.index(projection), len(fused), read


def keras_hub_arrays(backbone):
    """`backbone`'s weights as {keras_hub dataset path: float32 array}."""
    arrays = {}
    for variable_map in variable_maps(backbone):
        paths = [spec.path for spec in variable_map.specs]
        arrays.update(zip(paths, variable_map.split()))
    return arrays


def assign_keras_hub_arrays(backbone, arrays, source):
    """Assigns {keras_hub dataset path: array} to `backbone`'s variables.

    Every dataset of the architecture must be present with its exact shape and
    no other; `source` names where the arrays came from in error messages.
    """
    maps = variable_maps(backbone)
    expected = {spec.path for variable_map in maps for spec in variable_map.specs}
    _check_same_datasets(source, expected, set(arrays))
    for variable_map in maps:
        parts = [_checked(source, spec, arrays[spec.path]) for spec in variable_map.specs]
        variable_map.variable.assign(variable_map.join(parts))


def save_keras_hub_weights(backbone, path):
    """Writes `backbone`'s weights to `path` atomically, in keras_hub's layout."""
    temporary = f"{path}.tmp"
    with h5py.File(temporary, "w") as file:
        for dataset, array in keras_hub_arrays(backbone).items():
            file.create_dataset(dataset, data=array)
    os.replace(temporary, path)


def load_keras_hub_weights(backbone, path):
    """Assigns the weights stored at `path` (keras_hub's layout) to `backbone`.

    Only numeric datasets reached by hard links are read; links are not
    followed, and a dataset stored outside the file or needing a filter
    plugin is refused, as is a file that is not HDF5 (a pickle is never
    unpickled).
    """
    if not os.path.exists(path):
        refuse_unsafe_files(os.path.dirname(path), f"keras_hub's '{os.path.basename(path)}'")
        raise FileNotFoundError(f"Weights file '{path}' does not exist.")
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise PresetError(
            f"Weights file '{path}' is not an HDF5 file ({error}); keras_hub's "
            f"model.weights.h5 is one, and weights are never read from pickles."
        ) from None
    with file:
        arrays = {name: _read_dataset(path, name, file[name]) for name in _dataset_paths(file)}
    assign_keras_hub_arrays(backbone, arrays, f"Weights file '{path}'")


def _dataset_paths(file):
    # visititems follows hard links only: soft and external links are skipped.
    paths = set()
    file.visititems(lambda name, item: paths.add(name) if isinstance(item, h5py.Dataset) else None)
    return paths


def _read_dataset(path, name, dataset):
    """The values of a dataset that is plain numbers stored inside the file."""
    filters = _filter_ids(dataset)
    problem = None
    if dataset.dtype.kind not in NUMERIC_KINDS:
        problem = f"holds {dataset.dtype} values; weights are float or integer arrays"
    elif dataset.external or dataset.is_virtual:
        problem = "is stored outside the file (external or virtual dataset)"
    elif not filters <= BUILTIN_FILTERS:
        problem = (
            f"needs HDF5 filter plugins {sorted(filters - BUILTIN_FILTERS)}; only "
            f"HDF5's built-in filters and lzf {sorted(BUILTIN_FILTERS)} are read"
        )
    if problem:
        raise PresetError(f"Weights file '{path}': dataset '{name}' {problem}.")
    return dataset[()]


def _filter_ids(dataset):
    plist = dataset.id.get_create_plist()
    return {plist.get_filter(index)[0] for index in range(plist.get_nfilters())}


def _check_same_datasets(source, expected, stored):
    missing, unexpected = sorted(expected - stored), sorted(stored - expected)
    if missing or unexpected:
        raise PresetError(
            f"{source} does not match this architecture: "
            f"{len(missing)} missing datasets {missing[:5]}, "
            f"{len(unexpected)} unexpected datasets {unexpected[:5]}. "
            f"Check the checkpoint's config (layers, sizes) against its weights."
        )


def _checked(source, spec, array):
    array = np.asarray(array)
    if array.shape != spec.shape:
        raise PresetError(
            f"{source}: dataset '{spec.path}' has shape {array.shape}, "
            f"this architecture expects {spec.shape}."
        )
    return array
