"""WhisperAudioToText: speech recognition with the tied head and cached greedy decoding."""

import os

import keras
import numpy as np
from keras import ops

from whisper import preset_io
from whisper.convert.checkpoint_formats import read_imported_checkpoint
from whisper.convert.transformers_writer import save_transformers_checkpoint
from whisper.preset_handles import resolve_preset
from whisper.special_tokens import TASKS
from whisper.special_tokens import default_end_of_text_id
from whisper.whisper_audio_converter import WhisperAudioConverter
from whisper.whisper_backbone import WhisperBackbone
from whisper.whisper_generator import WhisperGenerator
from whisper.whisper_tokenizer import WhisperTokenizer

# The settings task.json stores; the only keys it may hold.
GENERATION_KEYS = ("language", "task", "suppress_tokens", "begin_suppress_tokens")


# The target id of positions that carry no loss: the decoder reads the token
# there but is not taught to write the next one (a previous-text prompt).
# Hugging Face's label convention, so labels carry over both ways.
IGNORED_TARGET_ID = -100


@keras.saving.register_keras_serializable(package="whisper")
class WhisperAudioToText(keras.Model):
    """A Whisper backbone with its language-model head, loss and `generate()`.

    The head is the token embedding transposed (tied weights), so the task adds
    no variables. Called on the backbone's inputs it returns logits
    (batch, length, vocabulary). Its loss is cross-entropy over target tokens
    only: positions where `decoder_padding_mask` (times any sample weight) is
    zero, and targets of `IGNORED_TARGET_ID` (the decoder reads them but is
    not taught to write them, as a previous-text prompt), contribute
    nothing. `generate()` decodes greedily with a key/value cache and static
    shapes, so it compiles with XLA.

    The language and task are stored with the model and saved in its preset, so
    a fine-tuned model keeps decoding the language it was trained on.

    Args:
        backbone: a `WhisperBackbone`.
        tokenizer: a `WhisperTokenizer`, needed to decode text and to build
            the decoder prompt; without one pass `prompt_ids` to
            `generate_token_ids`.
        audio_converter: a `WhisperAudioConverter` turning raw 16 kHz audio
            into features; defaults to one with the backbone's `num_mels`.
        language: language code such as "en" for multilingual models; None
            for English-only models.
        task: "transcribe" or "translate".
        suppress_tokens: token ids never generated (such as a checkpoint's
            non-speech symbols), on top of every special, language and
            timestamp token, which decoding without timestamps never emits.
        begin_suppress_tokens: token ids not generated first. None suppresses
            end of text and, with a tokenizer, the lone space.

    Example:

    ```python
    import numpy as np
    from whisper import WhisperAudioToText, WhisperBackbone

    backbone = WhisperBackbone(
        vocabulary_size=51864, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_encoder_sequence_length=200,
    )
    model = WhisperAudioToText(backbone)
    features = np.random.rand(1, 200, 80).astype("float32")
    token_ids = model.generate_token_ids(features, prompt_ids=[50257, 50362], max_length=8)
    ```
    """

    def __init__(
        self,
        backbone,
        tokenizer=None,
        audio_converter=None,
        language=None,
        task="transcribe",
        suppress_tokens=None,
        begin_suppress_tokens=None,
        **kwargs,
    ):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}.")
        if audio_converter is not None and audio_converter.num_mels != backbone.num_mels:
            raise ValueError(
                f"The audio converter makes {audio_converter.num_mels} mel bins; "
                f"the backbone takes num_mels={backbone.num_mels}."
            )
        super().__init__(**kwargs)
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.audio_converter = audio_converter or WhisperAudioConverter(num_mels=backbone.num_mels)
        self.language = language
        self.task = task
        self.suppress_tokens = suppress_tokens
        self.begin_suppress_tokens = begin_suppress_tokens
        self._generator = None

    # Training -------------------------------------------------------------

    def call(self, inputs, training=None):
        """Logits (batch, length, vocabulary) for the backbone's inputs."""
        hidden = self.backbone(inputs, training=training)["decoder_sequence_output"]
        return self.backbone.decoder.logits(hidden)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean cross-entropy over the target tokens that are neither padding nor ignored."""
        mask = target_mask(y, x["decoder_padding_mask"])
        if sample_weight is not None:
            mask = mask * ops.cast(sample_weight, "float32")
        return token_cross_entropy(y, y_pred, mask)

    # Generation -----------------------------------------------------------

    def generate(self, audio, max_length=None, jit_compile=True):
        """Transcribes raw 16 kHz mono audio; returns one string per clip.

        Args:
            audio: a 1-D waveform, a (batch, samples) array, or a list of
                1-D waveforms of any lengths.
            max_length: most tokens per sequence, prompt included; defaults
                to the backbone's `max_decoder_sequence_length`.
            jit_compile: compile the decoding loop with XLA (TensorFlow).
        """
        if self.tokenizer is None:
            raise ValueError(
                "generate() needs a tokenizer to build the prompt and decode "
                "text; use generate_token_ids(features, prompt_ids=...) without one."
            )
        features = self.audio_converter(_pad_clips(audio))
        if len(ops.shape(features)) == 2:
            features = features[None]
        token_ids = self.generate_token_ids(
            features, max_length=max_length, jit_compile=jit_compile
        )
        return self.tokenizer.detokenize(token_ids, skip_special_tokens=True)

    def decoder_prompt_ids(self):
        """<|startoftranscript|> [<|lang|> <|task|>] <|notimestamps|>."""
        return self.tokenizer.decoder_prompt_ids(language=self.language, task=self.task)

    def generate_token_ids(self, features, prompt_ids=None, max_length=None, jit_compile=True):
        """Greedy decoding from log-mel features; returns int32 (batch, max_length).

        Each row holds the prompt, the generated tokens, then end of text up to
        `max_length`. Decoding of a row stops at its first end of text, and the
        loop stops when every row has.

        Args:
            features: float (batch, frames, num_mels).
            prompt_ids: ids every row starts with, (prompt_length,) or
                (batch, prompt_length); defaults to `decoder_prompt_ids()`.
            max_length: most tokens per row, prompt included.
            jit_compile: compile with XLA (TensorFlow backend).
        """
        prompt = np.asarray(
            self.decoder_prompt_ids() if prompt_ids is None else prompt_ids, "int32"
        )
        result = self.generator.decode(features, prompt, max_length, jit_compile=jit_compile)
        max_length = max_length or self.backbone.max_decoder_sequence_length
        rows = np.full((len(result.token_ids), max_length), self.end_of_text_id(), "int32")
        rows[:, : prompt.shape[-1]] = prompt
        for row, generated in zip(rows, result.token_ids):
            row[prompt.shape[-1] : prompt.shape[-1] + len(generated)] = generated
        return rows

    def detect_language(self, features, jit_compile=True):
        """Per row of log-mel features, {language code: probability}.

        The probabilities are those of the language tokens right after
        `<|startoftranscript|>`, as Whisper was trained to predict them.
        An English-only model gives {"en": 1.0}.
        """
        if self.tokenizer is None or not self.tokenizer.is_multilingual:
            return [{"en": 1.0} for _ in range(len(features))]
        probabilities = self.generator.language_probabilities(features, jit_compile)
        codes = self.tokenizer.language_codes()
        return [dict(zip(codes, map(float, row))) for row in probabilities]

    @property
    def generator(self):
        """The `WhisperGenerator` holding this model's compiled decoding loops."""
        if self._generator is None:
            self._generator = WhisperGenerator(self)
        return self._generator

    def check_lengths(self, prompt_length, max_length):
        """Refuses a `max_length` that leaves no room after the prompt or
        exceeds the decoder's positions."""
        limit = self.backbone.max_decoder_sequence_length
        if not prompt_length < max_length <= limit:
            raise ValueError(
                f"max_length must be greater than the prompt length "
                f"({prompt_length}) and at most max_decoder_sequence_length "
                f"({limit}), got {max_length}."
            )

    def end_of_text_id(self):
        """Id of <|endoftext|>, which ends and pads every generated row."""
        if self.tokenizer is not None:
            return self.tokenizer.eos_token_id
        return default_end_of_text_id(self.backbone.vocabulary_size)

    def start_of_transcript_id(self):
        """Id of <|startoftranscript|>: in OpenAI's layouts, after end of text."""
        if self.tokenizer is not None:
            return self.tokenizer.bos_token_id
        return self.end_of_text_id() + 1

    def timestamp_begin_id(self):
        """Id of <|0.00|>, the first timestamp; needs a tokenizer."""
        if self.tokenizer is None:
            raise ValueError("Decoding with timestamps needs a tokenizer.")
        begin = self.tokenizer.timestamp_begin_id
        if begin >= self.backbone.vocabulary_size:
            raise ValueError(
                f"The vocabulary ({self.backbone.vocabulary_size} tokens) has no "
                f"timestamp tokens (they would start at {begin}); decode without "
                f"timestamps."
            )
        return begin

    def no_speech_token_id(self):
        """Id of the no-speech token, or None without a tokenizer."""
        return None if self.tokenizer is None else self.tokenizer.no_speech_token_id

    def suppressed_token_ids(self, timestamps=False):
        """Ids never generated: special and language tokens, the configured
        `suppress_tokens`, and timestamps unless decoding with them."""
        end = self.timestamp_begin_id() if timestamps else self.backbone.vocabulary_size
        special = range(self.end_of_text_id() + 1, end)
        return sorted(set(special) | set(self.suppress_tokens or []))

    def begin_suppressed_token_ids(self):
        """Ids `generate` does not emit first."""
        if self.begin_suppress_tokens is not None:
            return list(self.begin_suppress_tokens)
        blank = self.tokenizer.tokenize(" ") if self.tokenizer is not None else []
        return [self.end_of_text_id(), *blank]

    # Presets --------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "audio_converter": keras.saving.serialize_keras_object(self.audio_converter),
            "language": self.language,
            "task": self.task,
            "suppress_tokens": self.suppress_tokens,
            "begin_suppress_tokens": self.begin_suppress_tokens,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key, part_class in _PARTS.items():
            config[key] = _deserialize_part(config[key], key, part_class)
        return cls(**config)

    def _generation_config(self):
        return {key: getattr(self, key) for key in GENERATION_KEYS}

    def save_to_preset(self, preset_dir):
        """Writes the backbone, tokenizer, audio converter and task.json."""
        self.backbone.save_to_preset(preset_dir)
        if self.tokenizer is not None:
            self.tokenizer.save_to_preset(preset_dir)
        self.audio_converter.save_to_preset(preset_dir)
        preset_io.write_serialized(
            os.path.join(preset_dir, preset_io.TASK_CONFIG_FILE),
            self,
            self._generation_config(),
            keras_hub_class=False,
        )

    def save_to_transformers(self, path):
        """Writes a Hugging Face transformers checkpoint directory.

        config.json, model.safetensors, tokenizer files and a
        generation_config.json carrying this model's language and task, which
        `transformers.WhisperForConditionalGeneration.from_pretrained` loads.
        Without a tokenizer, the configs carry OpenAI's ids for the
        vocabulary's size.

        Example:

        ```python
        from whisper import WhisperAudioToText

        model = WhisperAudioToText.from_preset("/path/to/preset", language="fr")
        model.save_to_transformers("/path/to/transformers_checkpoint")
        ```
        """
        save_transformers_checkpoint(self, path)

    @classmethod
    def from_preset(cls, preset, load_weights=True, dtype=None, audio_converter=None, **kwargs):
        """Builds the task from a preset: backbone, tokenizer, converter, settings.

        Args:
            preset: a built-in name, a `kaggle://` or `hf://` handle, or a
                directory holding a preset (ours or keras_hub's), a Hugging
                Face transformers checkpoint or a CTranslate2 model.
            load_weights: bool. False gives random weights.
            dtype: the backbone's dtype policy, e.g. "mixed_bfloat16"; None
                keeps the preset's.
            audio_converter: a `WhisperAudioConverter` to use instead of the
                preset's, or a dict of its constructor arguments overriding
                the preset's, e.g. `{"pad_to_max_audio_length": False}` for
                clip-length features. It is saved with the model.
            **kwargs: overrides of the generation settings (`language`,
                `task`, `suppress_tokens`, `begin_suppress_tokens`).

        Example:

        ```python
        from whisper import WhisperAudioToText

        model = WhisperAudioToText.from_preset(
            "/path/to/preset",
            dtype="mixed_bfloat16",
            audio_converter={"pad_to_max_audio_length": False},
        )
        ```
        """
        preset_dir = resolve_preset(preset)
        overrides = {} if dtype is None else {"dtype": dtype}
        imported = read_imported_checkpoint(preset_dir)
        if imported is not None:
            backbone = WhisperBackbone.from_imported_checkpoint(imported, load_weights, **overrides)
            return cls(
                backbone,
                tokenizer=imported.tokenizer,
                audio_converter=_audio_converter(None, backbone, audio_converter),
                **{**imported.generation, **kwargs},
            )
        backbone = WhisperBackbone.from_preset(preset_dir, load_weights, **overrides)
        settings = {}
        task_path = os.path.join(preset_dir, preset_io.TASK_CONFIG_FILE)
        if os.path.exists(task_path):
            settings = preset_io.read_serialized(task_path, cls, allowed_keys=GENERATION_KEYS)
        return cls(
            backbone,
            tokenizer=WhisperTokenizer.from_preset(preset_dir),
            audio_converter=_audio_converter(preset_dir, backbone, audio_converter),
            **{**settings, **kwargs},
        )


_PARTS = {
    "backbone": WhisperBackbone,
    "tokenizer": WhisperTokenizer,
    "audio_converter": WhisperAudioConverter,
}


def _deserialize_part(serialized, key, part_class):
    """A part of the task's Keras config, which must describe `part_class`.

    Checked before Keras deserializes it (in safe mode), so that a config
    never builds another class in its place.
    """
    if serialized is None and part_class is WhisperTokenizer:
        return None
    registered_name = serialized.get("registered_name") if isinstance(serialized, dict) else None
    expected = keras.saving.get_registered_name(part_class)
    if registered_name != expected:
        raise ValueError(
            f"WhisperAudioToText's config gives '{key}' registered_name "
            f"{registered_name!r}; it must be {expected!r}."
        )
    return keras.saving.deserialize_keras_object(serialized)


def _audio_converter(preset_dir, backbone, audio_converter):
    """The converter `from_preset` builds: given, or the preset's with overrides.

    A preset without `audio_converter.json` (and every imported checkpoint)
    gets Whisper's converter for the backbone's mel bins.
    """
    if isinstance(audio_converter, WhisperAudioConverter):
        return audio_converter
    overrides = dict(audio_converter or {})
    has_file = preset_dir is not None and os.path.exists(
        os.path.join(preset_dir, preset_io.AUDIO_CONVERTER_CONFIG_FILE)
    )
    if has_file:
        return WhisperAudioConverter.from_preset(preset_dir, **overrides)
    return WhisperAudioConverter(**{"num_mels": backbone.num_mels, **overrides})


def target_mask(target_ids, decoder_padding_mask):
    """float32 1 where a target carries loss: not padding, not `IGNORED_TARGET_ID`."""
    taught = ops.not_equal(target_ids, IGNORED_TARGET_ID)
    return ops.cast(decoder_padding_mask, "float32") * ops.cast(taught, "float32")


def token_cross_entropy(target_ids, logits, mask):
    """Mean cross-entropy over positions where `mask` is nonzero, in float32.

    Masked targets may hold any id, `IGNORED_TARGET_ID` included.
    """
    losses = keras.losses.sparse_categorical_crossentropy(
        ops.maximum(target_ids, 0), ops.cast(logits, "float32"), from_logits=True
    )
    return ops.sum(losses * mask) / ops.maximum(ops.sum(mask), 1.0)


def _pad_clips(audio):
    """A list of clips of any lengths as one zero-padded (batch, samples) array."""
    if not isinstance(audio, (list, tuple)):
        return audio
    clips = [np.asarray(clip, "float32") for clip in audio]
    longest = max(len(clip) for clip in clips)
    return np.stack([np.pad(clip, (0, longest - len(clip))) for clip in clips])
