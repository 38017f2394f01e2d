"""The backbone architecture a run's model config names, known without
TensorFlow: the config's own, a built-in preset's, or a keras_hub preset
directory's. This module imports neither Keras nor TensorFlow.

Example:

```python
from omegaconf import OmegaConf
from train.architecture import effective_architecture

model = OmegaConf.create({"architecture": None, "preset": "whisper_tiny_en"})
effective_architecture(model)["hidden_dim"]  # 384
```
"""

import os

from omegaconf import OmegaConf

from train.config_errors import ConfigError
from whisper.utils.json_io import read_json
from whisper.whisper_presets import LAYER_CONFIG_KEYS
from whisper.whisper_presets import backbone_presets


def effective_architecture(model_config):
    """The backbone arguments the run will build, if knowable without TensorFlow.

    A model's own `architecture`, a built-in preset's, or a keras_hub preset
    directory's config.json; None for imported checkpoints (transformers,
    CTranslate2) and remote handles, checked once built.
    """
    if model_config.architecture is not None:
        return OmegaConf.to_container(model_config.architecture)
    preset = model_config.preset
    if preset in backbone_presets:
        return dict(backbone_presets[preset]["config"])
    config_path = os.path.join(str(preset), "config.json")
    if os.path.isfile(config_path):
        config = read_json(config_path, error=ConfigError)
        if isinstance(config, dict) and "registered_name" in config:
            return architecture_of(config.get("config") or {})
    return None


def architecture_of(backbone_config):
    """A backbone's config without the keys every Keras layer has."""
    return {key: value for key, value in backbone_config.items() if key not in LAYER_CONFIG_KEYS}
