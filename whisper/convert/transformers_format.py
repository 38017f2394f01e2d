"""Hugging Face transformers' Whisper checkpoint: its files and weight names.

A transformers checkpoint is a directory with `config.json` (`model_type`
"whisper"), the weights in `model.safetensors` (or shards listed by
`model.safetensors.index.json`), and usually `tokenizer.json`,
`tokenizer_config.json`, `preprocessor_config.json` and
`generation_config.json`. The reader and the writer share this description.

Example:

```python
from whisper.convert.keras_hub_layout import keras_hub_layout
from whisper.convert.transformers_format import tensor_name

config = dict(vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=8,
              intermediate_dim=16, num_mels=80, max_encoder_sequence_length=20,
              max_decoder_sequence_length=10)
[tensor_name(spec) for spec in keras_hub_layout(config)][5:7]
# ['encoder.layers.0.self_attn.q_proj.weight', 'encoder.layers.0.self_attn.q_proj.bias']
```
"""

CONFIG_FILE = "config.json"
GENERATION_CONFIG_FILE = "generation_config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
PREPROCESSOR_CONFIG_FILE = "preprocessor_config.json"

MODEL_TYPE = "whisper"
# WhisperForConditionalGeneration nests the network under `model.`; a bare
# WhisperModel has no prefix. Its head `proj_out` is tied to the embedding.
MODEL_PREFIX = "model."
HEAD = "proj_out.weight"
TOKEN_EMBEDDING = "decoder.embed_tokens.weight"
# transformers' "gelu" is the exact (erf) GELU that Whisper uses.
ACTIVATION = "gelu"

BLOCK_NAMES = {
    "conv_1": "conv1",
    "conv_2": "conv2",
    "position_embedding": "embed_positions",
    "token_embedding": "embed_tokens",
    "layer_norm": "layer_norm",
    "self_attention": "self_attn",
    "self_attention_layer_norm": "self_attn_layer_norm",
    "cross_attention": "encoder_attn",
    "cross_attention_layer_norm": "encoder_attn_layer_norm",
    "feedforward_layer_norm": "final_layer_norm",
    "feedforward_intermediate_dense": "fc1",
    "feedforward_output_dense": "fc2",
}
PROJECTION_NAMES = {"query": "q_proj", "key": "k_proj", "value": "v_proj", "output": "out_proj"}
PARAM_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "table": "weight",
}


def tensor_name(spec):
    """The transformers name (without `model.`) of a keras_hub `WeightSpec`."""
    layer = [] if spec.layer is None else ["layers", str(spec.layer)]
    projection = [] if spec.projection is None else [PROJECTION_NAMES[spec.projection]]
    parts = [spec.stack, *layer, BLOCK_NAMES[spec.block], *projection, PARAM_NAMES[spec.param]]
    return ".".join(parts)


def task_ids(tokenizer):
    """transformers' `task_to_id` of a tokenizer."""
    return {
        "transcribe": tokenizer.transcribe_token_id,
        "translate": tokenizer.translate_token_id,
    }
