"""WhisperGenerator: compiled decoding loops for `WhisperAudioToText`.

Greedy decoding, sampling at a temperature and beam search
(`whisper.beam_search`), with or without timestamps, and language
detection. Every loop keeps static shapes
(a key/value cache of `max_length` positions, prompts padded to a few
widths), so each compiles once with XLA and is reused for every window.

Example:

```python
import numpy as np
from whisper import WhisperAudioToText, WhisperBackbone
from whisper.whisper_generator import WhisperGenerator

backbone = WhisperBackbone(
    vocabulary_size=51864, num_layers=1, num_heads=2, hidden_dim=16,
    intermediate_dim=32, max_encoder_sequence_length=200,
)
generator = WhisperGenerator(WhisperAudioToText(backbone))
features = np.random.rand(2, 200, 80).astype("float32")
result = generator.decode(features, prompt_ids=[50257, 50362], max_length=8, beam_size=2)
len(result.token_ids), result.avg_log_probs.shape  # (2, (2,))
```
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from whisper.beam_search import BeamSearch
from whisper.timestamp_rules import TimestampRules
from whisper.token_suppression import allowed_logits
from whisper.token_suppression import suppression_mask

# Prompts are padded to one of these widths (the longest fits a previous
# text of half the context), so that few shapes are ever compiled.
SHORT_PROMPT_WIDTH = 8


@dataclasses.dataclass
class DecodingResult:
    """What decoding a batch gave, one entry per row.

    Attributes:
        token_ids: per row, the generated ids (int32 array), without the
            prompt and without the closing `<|endoftext|>`.
        sum_log_probs: float (batch,), the log-probability of the generated
            ids and of the closing `<|endoftext|>`.
        no_speech_probs: float (batch,), the probability of the no-speech
            token right after `<|startoftranscript|>`.
        finished: bool (batch,), whether the row ended with `<|endoftext|>`
            rather than at the length limit.
    """

    token_ids: list
    sum_log_probs: np.ndarray
    no_speech_probs: np.ndarray
    finished: np.ndarray

    @property
    def avg_log_probs(self):
        """Log-probability per token, the closing `<|endoftext|>` counted, as
        OpenAI's temperature fallback reads it."""
        lengths = np.array([len(ids) + 1 for ids in self.token_ids], "float32")
        return self.sum_log_probs / lengths


class WhisperGenerator:
    """Decoding for a `WhisperAudioToText`: its model, tokenizer and settings.

    Args:
        model: the `WhisperAudioToText` to decode with.
    """

    def __init__(self, model):
        self.model = model
        self._compiled = {}

    # Public entry points --------------------------------------------------

    def decode(
        self,
        features,
        prompt_ids,
        max_length=None,
        max_new_tokens=None,
        timestamps=False,
        temperature=0.0,
        seed=0,
        beam_size=None,
        patience=1.0,
        length_penalty=None,
        jit_compile=True,
    ):
        """Decodes log-mel features from a prompt; returns a `DecodingResult`.

        Args:
            features: float (batch, frames, num_mels).
            prompt_ids: ids every row starts with, (length,) or
                (batch, length); rows share one length.
            max_length: the cache's positions, prompt included; defaults to
                the backbone's `max_decoder_sequence_length`.
            max_new_tokens: most tokens generated per row; defaults to all
                that `max_length` leaves.
            timestamps: decode timestamp tokens under Whisper's rules (the
                prompt must then lack `<|notimestamps|>`).
            temperature: 0 picks the likeliest token; above 0 samples.
            seed: the sampling seed: the same seed, the same tokens.
            beam_size: beam search with this many beams (temperature 0).
            patience: beam search ends once `round(beam_size * patience)`
                candidates have ended, as in OpenAI's decoder.
            length_penalty: None ranks beam candidates by log-probability
                per token; a float alpha divides by ((5 + length) / 6) ** alpha.
            jit_compile: compile the loop with XLA (TensorFlow).
        """
        features = ops.convert_to_tensor(features, "float32")
        batch_size = int(ops.shape(features)[0])
        max_length = max_length or self.model.backbone.max_decoder_sequence_length
        prompt, prompt_length, start_index = self._padded_prompt(prompt_ids, batch_size, max_length)
        self.model.check_lengths(prompt_length, max_length)
        new_tokens = max_length - prompt_length if max_new_tokens is None else max_new_tokens
        settings = {"max_length": max_length, "timestamps": bool(timestamps)}
        if beam_size is None:
            settings["sampling"] = temperature != 0
        elif temperature != 0:
            raise ValueError("beam search decodes at temperature 0.")
        else:
            settings["beam_size"] = beam_size
            settings["candidates"] = max(1, round(beam_size * patience))
        never, not_first = self._masks(timestamps)
        inputs = {
            "features": features,
            "prompt": ops.convert_to_tensor(prompt),
            "prompt_length": ops.convert_to_tensor(prompt_length, "int32"),
            "start_index": ops.convert_to_tensor(start_index, "int32"),
            "max_new_tokens": ops.convert_to_tensor(new_tokens, "int32"),
            "temperature": ops.convert_to_tensor(temperature, "float32"),
            "seed": ops.convert_to_tensor(seed, "int32"),
            # Negative: rank by log-probability per token.
            "length_penalty": ops.convert_to_tensor(
                -1.0 if length_penalty is None else length_penalty, "float32"
            ),
            "never": never,
            "not_first": not_first,
        }
        token_ids, sum_log_probs, no_speech, finished = self._loop(settings, jit_compile)(inputs)
        return DecodingResult(
            self._generated(ops.convert_to_numpy(token_ids), prompt_length),
            ops.convert_to_numpy(sum_log_probs),
            ops.convert_to_numpy(no_speech),
            ops.convert_to_numpy(finished),
        )

    def language_probabilities(self, features, jit_compile=True):
        """float (batch, languages): each language token's probability after
        `<|startoftranscript|>`, in the tokenizer's language order."""
        tokenizer = self.model.tokenizer
        language_ids = np.array(sorted(tokenizer.language_tokens.values()), "int32")
        key = ("language", jit_compile)
        if key not in self._compiled:
            self._compiled[key] = _compile(self._language_probabilities, jit_compile)
        features = ops.convert_to_tensor(features, "float32")
        bos = np.full((int(ops.shape(features)[0]), 1), tokenizer.bos_token_id, "int32")
        probabilities = self._compiled[key](features, bos, ops.convert_to_tensor(language_ids))
        return ops.convert_to_numpy(probabilities)

    # Prompts and masks ----------------------------------------------------

    def _padded_prompt(self, prompt_ids, batch_size, max_length):
        """The prompt padded to a compiled width, its length, and the index
        of `<|startoftranscript|>` (after any previous-text prompt)."""
        prompt = np.asarray(prompt_ids, "int32")
        if prompt.ndim == 1:
            prompt = np.tile(prompt[None], (batch_size, 1))
        length = prompt.shape[1]
        width = SHORT_PROMPT_WIDTH
        if length > width:
            width = self.model.backbone.max_decoder_sequence_length // 2 + SHORT_PROMPT_WIDTH
        # Positions past the prompt are overwritten as tokens are generated.
        width = max(min(width, max_length), length)
        padding = np.full((batch_size, width - length), self.model.end_of_text_id())
        starts = np.flatnonzero(prompt[0] == self.model.start_of_transcript_id())
        start_index = int(starts[0]) if len(starts) else 0
        return np.concatenate([prompt, padding], axis=1).astype("int32"), length, start_index

    def _masks(self, timestamps):
        """bool (vocabulary,) masks: never generated, and not generated first."""
        model = self.model
        return (
            suppression_mask(
                model.suppressed_token_ids(timestamps), model.backbone.vocabulary_size
            ),
            suppression_mask(model.begin_suppressed_token_ids(), model.backbone.vocabulary_size),
        )

    def _generated(self, token_ids, prompt_length):
        eos = self.model.end_of_text_id()
        rows = []
        for row in token_ids[:, prompt_length:]:
            ends = np.flatnonzero(row == eos)
            rows.append(row[: ends[0]] if len(ends) else row)
        return rows

    # Compiled loops -------------------------------------------------------

    def _loop(self, settings, jit_compile):
        key = (tuple(sorted(settings.items())), jit_compile)
        if key not in self._compiled:
            loop = self._beam_loop if "beam_size" in settings else self._sampling_loop

            def decode(inputs):
                return loop(inputs, **settings)

            self._compiled[key] = _compile(decode, jit_compile)
        return self._compiled[key]

    def timestamp_rules(self):
        return TimestampRules(
            self.model.end_of_text_id(),
            self.model.timestamp_begin_id(),
            self.model.backbone.vocabulary_size,
        )

    def start_decoding(self, inputs, rows_per_audio, max_length):
        """Encodes the audio and runs the prompt through the decoder.

        Returns the cross-attention keys and values, the cache holding the
        prompt, the token buffer, the logits after the prompt and the
        no-speech probabilities, with `rows_per_audio` rows for each audio.
        """
        decoder = self.model.backbone.decoder
        encoder_output = self.model.backbone.encoder(inputs["features"])
        prompt = inputs["prompt"]
        if rows_per_audio > 1:
            encoder_output = ops.repeat(encoder_output, rows_per_audio, axis=0)
            prompt = ops.repeat(prompt, rows_per_audio, axis=0)
        cross_key_values = decoder.compute_cross_key_values(encoder_output)
        cache = decoder.empty_cache(ops.shape(prompt)[0], max_length)
        hidden, cache = decoder.call_with_cache(prompt, cross_key_values, cache, 0)
        logits = decoder.logits(ops.take(hidden, inputs["prompt_length"] - 1, axis=1))
        token_ids = _with_room(prompt, max_length, self.model.end_of_text_id())
        no_speech = self._no_speech_probs(hidden, inputs["start_index"])
        return cross_key_values, cache, token_ids, logits, no_speech

    def _no_speech_probs(self, hidden, start_index):
        no_speech_id = self.model.no_speech_token_id()
        if no_speech_id is None:
            return ops.zeros((ops.shape(hidden)[0],), "float32")
        logits = self.model.backbone.decoder.logits(ops.take(hidden, start_index, axis=1))
        return ops.softmax(ops.cast(logits, "float32"), axis=-1)[:, no_speech_id]

    def _sampling_loop(self, inputs, *, max_length, timestamps, sampling):
        """Greedy decoding, or sampling at `inputs["temperature"]`."""
        decoder = self.model.backbone.decoder
        eos = self.model.end_of_text_id()
        prompt_length = inputs["prompt_length"]
        cross_key_values, cache, token_ids, logits, no_speech = self.start_decoding(
            inputs, 1, max_length
        )
        batch_size = ops.shape(token_ids)[0]
        end = ops.minimum(max_length, prompt_length + inputs["max_new_tokens"])
        rules = self.timestamp_rules() if timestamps else None
        rule_state = rules.initial_state(batch_size) if timestamps else {}
        done = ops.zeros((batch_size,), "bool")
        sum_log_probs = ops.zeros((batch_size,), "float32")

        def not_finished(index, token_ids, logits, done, sum_log_probs, rule_state, cache):
            return ops.logical_and(index < end, ops.logical_not(ops.all(done)))

        def step(index, token_ids, logits, done, sum_log_probs, rule_state, cache):
            first = index == prompt_length
            logits = allowed_logits(logits, inputs["never"], inputs["not_first"], first)
            if timestamps:
                logits = rules.filter(logits, rule_state)
            log_probs = ops.log_softmax(logits, axis=-1)
            if sampling:
                token = _sample(logits / inputs["temperature"], inputs["seed"], index)
            else:
                token = ops.cast(ops.argmax(logits, axis=-1), "int32")
            token = ops.where(done, eos, token)
            picked = ops.take_along_axis(log_probs, token[:, None], axis=1)[:, 0]
            sum_log_probs = sum_log_probs + ops.where(done, 0.0, picked)
            token_ids = ops.slice_update(token_ids, [0, index], token[:, None])
            if timestamps:
                rule_state = rules.update(rule_state, token)
            done = ops.logical_or(done, token == eos)
            hidden, cache = decoder.call_with_cache(token[:, None], cross_key_values, cache, index)
            logits = decoder.logits(hidden[:, 0])
            return index + 1, token_ids, logits, done, sum_log_probs, rule_state, cache

        state = (prompt_length, token_ids, logits, done, sum_log_probs, rule_state, cache)
        _, token_ids, _, done, sum_log_probs, _, _ = ops.while_loop(not_finished, step, state)
        return token_ids, sum_log_probs, no_speech, done

    def _beam_loop(self, inputs, *, max_length, timestamps, beam_size, candidates):
        search = BeamSearch(self, beam_size, candidates, max_length, timestamps)
        return search.run(inputs)

    def _language_probabilities(self, features, bos, language_ids):
        decoder = self.model.backbone.decoder
        encoder_output = self.model.backbone.encoder(features)
        hidden = decoder(bos, encoder_output)
        logits = ops.cast(decoder.logits(hidden[:, 0]), "float32")
        return ops.softmax(ops.take(logits, language_ids, axis=1), axis=-1)


def _with_room(prompt, max_length, eos):
    """The prompt, then `eos` up to `max_length` positions."""
    batch_size, width = ops.shape(prompt)[0], ops.shape(prompt)[1]
    padding = ops.full((batch_size, max_length - width), eos, "int32")
    return ops.concatenate([ops.cast(prompt, "int32"), padding], axis=1)


def _sample(logits, seed, index):
    """One token per row from softmax(logits), the same for the same seed."""
    pair = ops.stack([seed, index])
    return ops.cast(tf.random.stateless_categorical(logits, 1, pair)[:, 0], "int32")


def _compile(function, jit_compile):
    if keras.backend.backend() == "tensorflow":
        return tf.function(function, jit_compile=jit_compile)
    return function
