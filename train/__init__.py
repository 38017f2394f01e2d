"""python -m train: Hydra-configured Whisper training."""
