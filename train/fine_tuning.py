"""Which of a model's variables a run trains: frozen layers and LoRA adapters.

`FineTuning(...).apply(model)` marks what stays fixed before the optimizer is
built: the whole encoder, its first N layers, the decoder's first N layers,
the token embedding (also the output head, the two being tied), or, with a
LoRA rank, everything but the low-rank adapters it adds to the chosen
projections of every layer left unfrozen. `trained_variables(model)` is then
what the `Trainer` differentiates and the optimizer holds slots for, and
`footprint(model, optimizer)` the numbers a run reports.

Example:

```python
from train.fine_tuning import FineTuning, footprint, trained_variables
from train.optimizer import build_optimizer
from whisper import WhisperAudioToText, WhisperBackbone

backbone = WhisperBackbone(
    vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16,
    intermediate_dim=32, max_encoder_sequence_length=20,
    max_decoder_sequence_length=8,
)
model = WhisperAudioToText(backbone)
FineTuning(lora_rank=4, lora_targets=("query", "value")).apply(model)
optimizer = build_optimizer(model, 1e-3)
optimizer.build(trained_variables(model))
footprint(model, optimizer)["trainable_parameters"]  # 1536: the adapters alone
```
"""

import dataclasses
import math

import tensorflow as tf

from train.choices import LORA_TARGETS

# The feedforward targets and the Dense layers of each transformer layer they name.
FEEDFORWARD_LAYERS = {
    "feedforward_intermediate": "feedforward_intermediate_dense",
    "feedforward_output": "feedforward_output_dense",
}


@dataclasses.dataclass(frozen=True)
class FineTuning:
    """What a run trains of a `WhisperAudioToText`.

    Args:
        freeze_encoder: bool. The encoder gets no gradient, no backward pass
            and no optimizer slots.
        freeze_encoder_layers: int. The first this many encoder layers are
            frozen (the convolutions and position table below them train).
        freeze_decoder_layers: int. The same for the decoder's layers.
        freeze_token_embedding: bool. The token table stays fixed, and with
            it the output head, which is the same table.
        lora_rank: int or None. With a rank, every weight freezes and only
            LoRA adapters of this rank train, in the `lora_targets` of every
            layer not frozen above. 0 or None: no LoRA.
        lora_alpha: number or None. The adapters' scale is
            `lora_alpha / lora_rank`; None: `lora_rank` (Keras's default).
        lora_targets: some of `train.choices.LORA_TARGETS`.
    """

    freeze_encoder: bool = False
    freeze_encoder_layers: int = 0
    freeze_decoder_layers: int = 0
    freeze_token_embedding: bool = False
    lora_rank: int | None = None
    lora_alpha: float | None = None
    lora_targets: tuple = ("query", "value")

    @classmethod
    def from_config(cls, model_config):
        """The choices of the `model` config group."""
        return cls(
            freeze_encoder=model_config.freeze_encoder,
            freeze_encoder_layers=model_config.freeze_encoder_layers,
            freeze_decoder_layers=model_config.freeze_decoder_layers,
            freeze_token_embedding=model_config.freeze_token_embedding,
            lora_rank=model_config.lora.rank,
            lora_alpha=model_config.lora.alpha,
            lora_targets=tuple(model_config.lora.targets),
        )

    def apply(self, model):
        """Freezes `model`'s variables and adds its adapters, as chosen.

        Call it once, under the strategy's scope, before the optimizer is
        built (and before a checkpoint is restored, which holds the adapters).
        """
        self._check(model.backbone)
        frozen = self._frozen_layers(model.backbone)
        for layer in frozen:
            _freeze(layer.trainable_variables)
        if self.lora_rank:
            _freeze(model.trainable_variables)
            for stack in (model.backbone.encoder, model.backbone.decoder):
                for layer in stack.transformer_layers:
                    if not any(layer is frozen_layer for frozen_layer in frozen):
                        self._enable_lora(layer)

    def _check(self, backbone):
        unknown = sorted(set(self.lora_targets) - set(LORA_TARGETS))
        if unknown or not self.lora_targets:
            raise ValueError(f"lora_targets must be drawn from {LORA_TARGETS}, got {unknown}.")
        for name, count, stack in (
            ("freeze_encoder_layers", self.freeze_encoder_layers, backbone.encoder),
            ("freeze_decoder_layers", self.freeze_decoder_layers, backbone.decoder),
        ):
            if not 0 <= count <= len(stack.transformer_layers):
                raise ValueError(
                    f"{name} must be in [0, {len(stack.transformer_layers)}], got {count}."
                )

    def _frozen_layers(self, backbone):
        """The layers frozen whole; a frozen encoder's transformer layers among them."""
        encoder_layers = backbone.encoder.transformer_layers
        frozen_encoder_layers = (
            len(encoder_layers) if self.freeze_encoder else self.freeze_encoder_layers
        )
        layers = [
            *encoder_layers[:frozen_encoder_layers],
            *backbone.decoder.transformer_layers[: self.freeze_decoder_layers],
        ]
        if self.freeze_encoder:
            layers.append(backbone.encoder)
        if self.freeze_token_embedding:
            layers.append(backbone.token_embedding)
        return layers

    def _enable_lora(self, transformer_layer):
        projections = [target for target in self.lora_targets if target not in FEEDFORWARD_LAYERS]
        if projections:
            for attention in transformer_layer.attention_layers:
                attention.enable_lora(self.lora_rank, self.lora_alpha, projections)
        for target, dense_name in FEEDFORWARD_LAYERS.items():
            if target in self.lora_targets:
                dense = getattr(transformer_layer, dense_name)
                dense.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)


def _freeze(variables):
    for variable in variables:
        variable.trainable = False


def trained_variables(model):
    """The variables a run differentiates and updates, after `FineTuning.apply`."""
    return list(model.trainable_variables)


def footprint(model, optimizer):
    """Parameters trained, of all, and the bytes of the optimizer's slots.

    Slots are every optimizer variable (moments, and the loss scale and
    step counters), held only for `trained_variables`.
    """
    return {
        "trainable_parameters": _count(trained_variables(model)),
        "parameters": _count(model.weights),
        "optimizer_slot_bytes": sum(
            math.prod(v.shape) * tf.as_dtype(v.dtype).size for v in optimizer.variables
        ),
    }


def _count(variables):
    return sum(math.prod(v.shape) for v in variables)
