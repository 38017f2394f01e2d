"""WhisperGenerator: compiled decoding loops for `WhisperAudioToText`.

Greedy decoding, sampling at a temperature and beam search, with or
without timestamps, and language detection. Every loop keeps static shapes
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

from whisper.timestamp_rules import TimestampRules

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
            _mask(model.suppressed_token_ids(timestamps), model.backbone.vocabulary_size),
            _mask(model.begin_suppressed_token_ids(), model.backbone.vocabulary_size),
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

    def _timestamp_rules(self):
        return TimestampRules(
            self.model.end_of_text_id(),
            self.model.timestamp_begin_id(),
            self.model.backbone.vocabulary_size,
        )

    def _start(self, inputs, rows_per_audio, max_length):
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
        cross_key_values, cache, token_ids, logits, no_speech = self._start(inputs, 1, max_length)
        batch_size = ops.shape(token_ids)[0]
        end = ops.minimum(max_length, prompt_length + inputs["max_new_tokens"])
        rules = self._timestamp_rules() if timestamps else None
        rule_state = rules.initial_state(batch_size) if timestamps else {}
        done = ops.zeros((batch_size,), "bool")
        sum_log_probs = ops.zeros((batch_size,), "float32")

        def not_finished(index, token_ids, logits, done, sum_log_probs, rule_state, cache):
            return ops.logical_and(index < end, ops.logical_not(ops.all(done)))

        def step(index, token_ids, logits, done, sum_log_probs, rule_state, cache):
            first = index == prompt_length
            logits = _allowed_logits(logits, inputs["never"], inputs["not_first"], first)
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
        search = _BeamSearch(self, beam_size, candidates, max_length, timestamps)
        return search.run(inputs)

    def _language_probabilities(self, features, bos, language_ids):
        decoder = self.model.backbone.decoder
        encoder_output = self.model.backbone.encoder(features)
        hidden = decoder(bos, encoder_output)
        logits = ops.cast(decoder.logits(hidden[:, 0]), "float32")
        return ops.softmax(ops.take(logits, language_ids, axis=1), axis=-1)


class _BeamSearch:
    """Batched beam search with OpenAI's rules, in static shapes.

    Each audio keeps `beam_size` live hypotheses (rows audio * beam_size +
    beam) and up to `candidates` ended ones. Every step ranks, per audio,
    the 2 * beam_size likeliest continuations of all its beams: enough,
    since at most one per beam ends the text. Continuations that end before
    the beam_size-th that does not are kept as ended candidates (while
    there is room), and the first beam_size others become the next beams.
    The search stops when every audio has `candidates` ended ones; the
    answer is the candidate (or, lacking enough, the live beam) with the
    best length-normalized log-probability.
    """

    def __init__(self, generator, beam_size, candidates, max_length, timestamps):
        self.generator = generator
        self.decoder = generator.model.backbone.decoder
        self.eos = generator.model.end_of_text_id()
        self.beam_size = beam_size
        self.candidates = candidates
        self.max_length = max_length
        self.rules = generator._timestamp_rules() if timestamps else None

    def run(self, inputs):
        beams = self.beam_size
        prompt_length = inputs["prompt_length"]
        cross_key_values, cache, token_ids, logits, no_speech = self.generator._start(
            inputs, beams, self.max_length
        )
        audios = ops.shape(token_ids)[0] // beams
        # All beams start equal: only the first may extend, or the first
        # step would pick the same continuation beam_size times.
        first_beam = ops.arange(beams) == 0
        state = {
            "index": prompt_length,
            "token_ids": token_ids,
            "logits": logits,
            "scores": ops.tile(ops.where(first_beam, 0.0, -np.inf)[None], (audios, 1)),
            "rule_state": self.rules.initial_state(audios * beams) if self.rules else {},
            "cache": cache,
            "ended_ids": ops.full((audios, self.candidates, self.max_length), self.eos, "int32"),
            "ended_scores": ops.full((audios, self.candidates), -np.inf, "float32"),
            "ended_lengths": ops.ones((audios, self.candidates), "int32"),
            "ended_count": ops.zeros((audios,), "int32"),
        }
        end = ops.minimum(self.max_length, prompt_length + inputs["max_new_tokens"])

        def not_finished(state):
            complete = ops.all(state["ended_count"] >= self.candidates)
            return ops.logical_and(state["index"] < end, ops.logical_not(complete))

        def step(state):
            return self._step(state, cross_key_values, inputs)

        state = ops.while_loop(not_finished, step, state)
        token_ids, scores, finished = self._best(state, prompt_length, inputs["length_penalty"])
        return token_ids, scores, no_speech[::beams], finished

    def _step(self, state, cross_key_values, inputs):
        beams, eos, index = self.beam_size, self.eos, state["index"]
        first = index == inputs["prompt_length"]
        logits = _allowed_logits(state["logits"], inputs["never"], inputs["not_first"], first)
        if self.rules:
            logits = self.rules.filter(logits, state["rule_state"])
        log_probs = ops.log_softmax(logits, axis=-1)
        vocabulary_size = ops.shape(log_probs)[-1]
        audios = ops.shape(state["scores"])[0]
        totals = ops.reshape(
            state["scores"][:, :, None] + ops.reshape(log_probs, (audios, beams, vocabulary_size)),
            (audios, beams * vocabulary_size),
        )
        top_scores, top_flat = ops.top_k(totals, 2 * beams)
        top_beam = top_flat // vocabulary_size
        top_token = ops.cast(top_flat % vocabulary_size, "int32")
        ends = top_token == eos
        # Continuations that do not end, ranked; the first beam_size survive.
        continues = ops.logical_not(ends)
        kept_before = ops.cumsum(ops.cast(continues, "int32"), axis=1) - ops.cast(
            continues, "int32"
        )
        survivor_order = ops.argsort(
            ops.where(continues, kept_before, 2 * beams + ops.arange(2 * beams)), axis=1
        )[:, :beams]
        new_scores = ops.take_along_axis(top_scores, survivor_order, axis=1)
        source_beam = ops.take_along_axis(top_beam, survivor_order, axis=1)
        new_tokens = ops.take_along_axis(top_token, survivor_order, axis=1)
        source_rows = ops.reshape(ops.arange(audios)[:, None] * beams + source_beam, (-1,))
        # Ended continuations count if ranked before the last survivor (and
        # possible at all: few tokens may be allowed after a timestamp).
        ended = ops.logical_and(ends, kept_before < beams)
        ended = ops.logical_and(ended, ops.isfinite(top_scores))
        state = self._record_ended(state, ended, top_scores, top_beam, index)

        token = ops.reshape(new_tokens, (-1,))
        token_ids = ops.take(state["token_ids"], source_rows, axis=0)
        token_ids = ops.slice_update(token_ids, [0, index], token[:, None])
        rule_state = state["rule_state"]
        if self.rules:
            rule_state = {k: ops.take(v, source_rows, axis=0) for k, v in rule_state.items()}
            rule_state = self.rules.update(rule_state, token)
        cache = ops.take(state["cache"], source_rows, axis=1)
        hidden, cache = self.decoder.call_with_cache(token[:, None], cross_key_values, cache, index)
        return {
            **state,
            "index": index + 1,
            "token_ids": token_ids,
            "logits": self.decoder.logits(hidden[:, 0]),
            "scores": new_scores,
            "rule_state": rule_state,
            "cache": cache,
        }

    def _record_ended(self, state, ended, top_scores, top_beam, index):
        """Adds the continuations that end, best first, while there is room."""
        beams = self.beam_size
        ended_ids, ended_scores = state["ended_ids"], state["ended_scores"]
        ended_lengths, count = state["ended_lengths"], state["ended_count"]
        token_ids = ops.reshape(state["token_ids"], (-1, beams, self.max_length))
        slot_of = ops.cumsum(ops.cast(ended, "int32"), axis=1) - 1 + count[:, None]
        slots = ops.arange(self.candidates)
        for position in range(2 * beams):
            writes = ops.logical_and(ended[:, position], slot_of[:, position] < self.candidates)
            at_slot = ops.logical_and(writes[:, None], slots[None] == slot_of[:, position, None])
            ids = ops.take_along_axis(token_ids, top_beam[:, position, None, None], axis=1)
            ended_ids = ops.where(at_slot[:, :, None], ids, ended_ids)
            ended_scores = ops.where(at_slot, top_scores[:, position, None], ended_scores)
            ended_lengths = ops.where(at_slot, index, ended_lengths)
        added = ops.sum(ops.cast(ended, "int32"), axis=1)
        return {
            **state,
            "ended_ids": ended_ids,
            "ended_scores": ended_scores,
            "ended_lengths": ended_lengths,
            "ended_count": ops.minimum(count + added, self.candidates),
        }

    def _best(self, state, prompt_length, length_penalty):
        """Per audio, the best ended candidate, live beams filling in."""
        beams = self.beam_size
        audios = ops.shape(state["scores"])[0]
        live_ids = ops.reshape(state["token_ids"], (audios, beams, self.max_length))
        live_lengths = ops.full((audios, beams), state["index"], "int32")
        # Live beams count only where too few candidates ended (OpenAI fills
        # up to beam_size with them).
        live_needed = ops.arange(beams)[None] < (beams - state["ended_count"])[:, None]
        live_scores = ops.where(live_needed, state["scores"], -np.inf)
        ids = ops.concatenate([state["ended_ids"], live_ids], axis=1)
        scores = ops.concatenate([state["ended_scores"], live_scores], axis=1)
        lengths = ops.concatenate([state["ended_lengths"], live_lengths], axis=1)
        generated = ops.cast(ops.maximum(lengths - prompt_length, 1), "float32")
        penalty = ops.where(
            length_penalty < 0, generated, ((5.0 + generated) / 6.0) ** length_penalty
        )
        best = ops.argmax(ops.where(ops.isfinite(scores), scores / penalty, -np.inf), axis=1)
        token_ids = ops.take_along_axis(ids, best[:, None, None], axis=1)[:, 0]
        best_scores = ops.take_along_axis(scores, best[:, None], axis=1)[:, 0]
        return token_ids, best_scores, best < self.candidates


def _with_room(prompt, max_length, eos):
    """The prompt, then `eos` up to `max_length` positions."""
    batch_size, width = ops.shape(prompt)[0], ops.shape(prompt)[1]
    padding = ops.full((batch_size, max_length - width), eos, "int32")
    return ops.concatenate([ops.cast(prompt, "int32"), padding], axis=1)


def _allowed_logits(logits, never, not_first, first):
    """float32 logits with `never` (and at the first step `not_first`) at -inf."""
    logits = ops.where(never[None], -np.inf, ops.cast(logits, "float32"))
    return ops.where(ops.logical_and(first, not_first)[None], -np.inf, logits)


def _sample(logits, seed, index):
    """One token per row from softmax(logits), the same for the same seed."""
    pair = ops.stack([seed, index])
    return ops.cast(tf.random.stateless_categorical(logits, 1, pair)[:, 0], "int32")


def _mask(token_ids, vocabulary_size):
    mask = np.zeros((vocabulary_size,), "bool")
    mask[np.asarray(token_ids, "int64")] = True
    return ops.convert_to_tensor(mask)


def _compile(function, jit_compile):
    if keras.backend.backend() == "tensorflow":
        return tf.function(function, jit_compile=jit_compile)
    return function
