"""Small helpers the model library shares, free of TensorFlow.

- `json_io`: every JSON read, and atomic writes of JSON and text.
- `offline`: the `WHISPER_KERAS_OFFLINE` switch.
- `quiet_import`: TensorFlow imported without its start-up lines.
- `lazy_exports`: a package's names imported on first use.
"""
