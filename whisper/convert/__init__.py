"""Checkpoint formats: keras_hub's weight layout and the importers and exporters.

- `keras_hub_layout`: keras_hub's `model.weights.h5`, described once, as
  `WeightSpec`s; every other module here maps onto it.
- `keras_hub_weights`: our backbone's variables read from and written to it.
- `torch_layout`: the (out, in) layout transformers and CTranslate2 share.
- `transformers_format`, `transformers_reader`, `transformers_writer`:
  Hugging Face transformers checkpoints.
- `ctranslate2_reader`: CTranslate2 (faster-whisper) models.
- `checkpoint_formats`: which format a directory holds, and its reader.
- `tokenizer_files`: the tokenizer's files, keras_hub's assets and Hugging
  Face's `tokenizer.json`.
"""
