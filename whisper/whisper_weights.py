"""Reads and writes `model.weights.h5` in keras_hub's WhisperBackbone layout.

Keras stores weights by position in the object graph: a layer's variables are
datasets `vars/0`, `vars/1`, ... under a group named after the layer's class
and its rank among layers of that class (`whisper_encoder`, `whisper_encoder_1`,
...). Our layers differ from keras_hub's (query, key and value projections are
fused into one matmul), so this module maps each of our variables to the
keras_hub datasets it is made of, splitting on save and joining on load.
"""

import os

import h5py
import numpy as np


class VariableMap:
    """One of our variables and the keras_hub datasets that make it up.

    The variable is the concatenation, along its last axis, of the datasets
    reshaped to equal parts of it (a fused query/key/value kernel is
    `[query | key | value]`); `shapes` are the datasets' own shapes.
    """

    def __init__(self, variable, paths, shapes):
        self.variable = variable
        self.paths = paths
        self.shapes = shapes

    def split(self):
        value = np.asarray(self.variable.numpy(), dtype="float32")
        parts = np.split(value, len(self.paths), axis=-1)
        return [part.reshape(shape) for part, shape in zip(parts, self.shapes)]

    def join(self, arrays):
        shape = tuple(self.variable.shape)
        part_shape = shape[:-1] + (shape[-1] // len(self.paths),)
        parts = [np.asarray(array).reshape(part_shape) for array in arrays]
        return np.concatenate(parts, axis=-1)


def variable_maps(backbone):
    """Every variable of `backbone`, mapped to keras_hub's datasets."""
    encoder, decoder = backbone.encoder, backbone.decoder
    maps = [
        *_dense_maps(encoder.conv_1, "layers/conv1d"),
        *_dense_maps(encoder.conv_2, "layers/conv1d_1"),
        _single(encoder.position_embedding, "layers/position_embedding"),
    ]
    for index, layer in enumerate(encoder.transformer_layers):
        maps += _transformer_layer_maps(layer, _numbered("layers/whisper_encoder", index))
    maps += _dense_maps(encoder.layer_norm, "layers/layer_normalization")
    embeddings = "layers/token_and_position_embedding"
    maps += [
        _single(decoder.token_embedding.embeddings, f"{embeddings}/token_embedding"),
        _single(decoder.position_embedding, f"{embeddings}/position_embedding"),
    ]
    for index, layer in enumerate(decoder.transformer_layers):
        maps += _transformer_layer_maps(layer, _numbered("layers/whisper_decoder", index))
    maps += _dense_maps(decoder.layer_norm, "layers/layer_normalization_1")
    return maps


def _numbered(group, index):
    return group if index == 0 else f"{group}_{index}"


def _single(variable, group, index=0):
    return VariableMap(variable, [f"{group}/vars/{index}"], [tuple(variable.shape)])


def _dense_maps(layer, group):
    """Kernel then bias, or gamma then beta: the order Keras creates them."""
    return [_single(variable, group, index) for index, variable in enumerate(layer.weights)]


def _transformer_layer_maps(layer, group):
    maps = _attention_maps(layer.self_attention, f"{group}/_self_attention_layer")
    maps += _dense_maps(layer.self_attention_layer_norm, f"{group}/_self_attention_layer_norm")
    if hasattr(layer, "cross_attention"):
        maps += _attention_maps(layer.cross_attention, f"{group}/_cross_attention_layer")
        maps += _dense_maps(
            layer.cross_attention_layer_norm, f"{group}/_cross_attention_layer_norm"
        )
    maps += _dense_maps(layer.feedforward_layer_norm, f"{group}/_feedforward_layer_norm")
    maps += _dense_maps(
        layer.feedforward_intermediate_dense, f"{group}/_feedforward_intermediate_dense"
    )
    maps += _dense_maps(layer.feedforward_output_dense, f"{group}/_feedforward_output_dense")
    return maps


def _attention_maps(attention, group):
    hidden, heads = attention.hidden_dim, attention.num_heads
    head_dim = hidden // heads
    projection = (hidden, heads, head_dim)

    def kernel(name):
        return f"{group}/{name}_dense/vars/0"

    def bias(name):
        return f"{group}/{name}_dense/vars/1"

    if attention.cross_attention:
        maps = [
            VariableMap(attention.query_kernel, [kernel("query")], [projection]),
            VariableMap(
                attention.key_value_kernel,
                [kernel("key"), kernel("value")],
                [projection, projection],
            ),
        ]
    else:
        names = ("query", "key", "value")
        maps = [
            VariableMap(attention.query_kernel, [kernel(n) for n in names], [projection] * 3)
        ]
    return maps + [
        VariableMap(attention.query_bias, [bias("query")], [(heads, head_dim)]),
        VariableMap(attention.value_bias, [bias("value")], [(heads, head_dim)]),
        VariableMap(attention.output_kernel, [kernel("output")], [(heads, head_dim, hidden)]),
        VariableMap(attention.output_bias, [bias("output")], [(hidden,)]),
    ]


def keras_hub_arrays(backbone):
    """`backbone`'s weights as {keras_hub dataset path: array}."""
    arrays = {}
    for variable_map in variable_maps(backbone):
        arrays.update(zip(variable_map.paths, variable_map.split()))
    return arrays


def assign_keras_hub_arrays(backbone, arrays, source):
    """Assigns {keras_hub dataset path: array} to `backbone`'s variables.

    Every dataset of the architecture must be present with its exact shape and
    no other; `source` names where the arrays came from in error messages.
    """
    maps = variable_maps(backbone)
    expected = {dataset for variable_map in maps for dataset in variable_map.paths}
    _check_same_datasets(source, expected, set(arrays))
    for variable_map in maps:
        parts = [
            _checked(source, dataset, arrays[dataset], shape)
            for dataset, shape in zip(variable_map.paths, variable_map.shapes)
        ]
        variable_map.variable.assign(variable_map.join(parts))


def save_keras_hub_weights(backbone, path):
    """Writes `backbone`'s weights to `path` atomically, in keras_hub's layout."""
    temporary = f"{path}.tmp"
    with h5py.File(temporary, "w") as file:
        for dataset, array in keras_hub_arrays(backbone).items():
            file.create_dataset(dataset, data=array)
    os.replace(temporary, path)


def load_keras_hub_weights(backbone, path):
    """Assigns the weights stored at `path` (keras_hub's layout) to `backbone`."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"Weights file '{path}' does not exist.")
    with h5py.File(path, "r") as file:
        arrays = {name: file[name][()] for name in _dataset_paths(file)}
    assign_keras_hub_arrays(backbone, arrays, f"Weights file '{path}'")


def _dataset_paths(file):
    paths = set()
    file.visititems(
        lambda name, item: paths.add(name) if isinstance(item, h5py.Dataset) else None
    )
    return paths


def _check_same_datasets(source, expected, stored):
    missing, unexpected = sorted(expected - stored), sorted(stored - expected)
    if missing or unexpected:
        raise ValueError(
            f"{source} does not match this architecture: "
            f"{len(missing)} missing datasets {missing[:5]}, "
            f"{len(unexpected)} unexpected datasets {unexpected[:5]}. "
            f"Check the checkpoint's config (layers, sizes) against its weights."
        )


def _checked(source, dataset, array, shape):
    array = np.asarray(array)
    if array.shape != tuple(shape):
        raise ValueError(
            f"{source}: dataset '{dataset}' has shape {array.shape}, "
            f"this architecture expects {tuple(shape)}."
        )
    return array
