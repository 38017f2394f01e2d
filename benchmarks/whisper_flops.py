"""Floating-point operations of one Whisper training example, counted from its shapes.

Counts the multiply-adds of the matrix products (2 FLOP each), which are
nearly all of Whisper's work; a training example costs 3 forward passes
(forward, and a backward pass twice as expensive). For 30 s windows and
128 target tokens this gives about 147 GFLOP for tiny, 335 for base and
1,290 for small.

Example:

```python
from benchmarks.whisper_flops import training_flop_per_example
from whisper.whisper_presets import backbone_presets

config = backbone_presets["whisper_tiny_en"]["config"]
round(training_flop_per_example(config, target_tokens=128) / 1e9)  # 147
```
"""

from whisper.whisper_presets import WINDOW_FRAMES

# Whisper's convolutional stem: 3-wide kernels; the second one halves the frames.
KERNEL_WIDTH = 3
DOWNSAMPLING = 2


def training_flop_per_example(config, target_tokens, feature_frames=WINDOW_FRAMES):
    """3 x `forward_flop_per_example`."""
    return 3 * forward_flop_per_example(config, target_tokens, feature_frames)


def forward_flop_per_example(config, target_tokens, feature_frames=WINDOW_FRAMES):
    """FLOP of one forward pass of `config` (a WhisperBackbone config) with the tied head."""
    width = config["hidden_dim"]
    positions = feature_frames // DOWNSAMPLING
    stem = 2 * KERNEL_WIDTH * width * (feature_frames * config["num_mels"] + positions * width)
    encoder_layer = _self_attention(width, positions) + _feedforward(config, positions)
    decoder_layer = (
        _self_attention(width, target_tokens)
        + _cross_attention(width, target_tokens, positions)
        + _feedforward(config, target_tokens)
    )
    decoder_layers = config.get("num_decoder_layers") or config["num_layers"]
    head = 2 * width * config["vocabulary_size"] * target_tokens
    return stem + config["num_layers"] * encoder_layer + decoder_layers * decoder_layer + head


def _self_attention(width, length):
    projections = 2 * 4 * width * width * length  # query, key, value, output
    scores_and_mixing = 2 * 2 * length * length * width
    return projections + scores_and_mixing


def _cross_attention(width, queries, keys):
    projections = 2 * 2 * width * width * (queries + keys)  # query, output; key, value
    scores_and_mixing = 2 * 2 * queries * keys * width
    return projections + scores_and_mixing


def _feedforward(config, length):
    return 2 * 2 * config["hidden_dim"] * config["intermediate_dim"] * length
