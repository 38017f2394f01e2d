"""Runs keras_hub's WhisperBackbone in a process of its own, for parity tests.

keras_hub and our package both register Whisper classes with Keras; in one
process, loading a preset could silently build the other library's class and a
parity test would compare a model with itself. So the keras_hub side of every
backbone parity test runs here, in a subprocess that never imports `whisper`.

Usage:
    python keras_hub_oracle.py save CONFIG_JSON SEED PRESET_DIR
        Builds a randomly initialised keras_hub WhisperBackbone and saves it
        as a preset.
    python keras_hub_oracle.py run PRESET_DIR INPUTS_NPZ OUTPUTS_NPZ
        Loads the preset with keras_hub and writes its outputs on the inputs.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402


def save(config_json, seed, preset_dir):
    keras.utils.set_random_seed(int(seed))
    backbone = keras_hub.models.WhisperBackbone(**json.loads(config_json))
    backbone.save_to_preset(preset_dir)


def run(preset_dir, inputs_path, outputs_path):
    backbone = keras_hub.models.WhisperBackbone.from_preset(preset_dir)
    module = type(backbone).__module__
    if not module.startswith("keras_hub."):
        raise SystemExit(f"keras_hub built {module}.WhisperBackbone, not its own")
    inputs = dict(np.load(inputs_path))
    outputs = backbone.predict_on_batch(inputs)
    np.savez(outputs_path, **{k: np.asarray(v) for k, v in outputs.items()})


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"save": save, "run": run}[command](*arguments)
