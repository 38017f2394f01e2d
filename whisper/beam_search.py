"""Beam search for `WhisperGenerator`: OpenAI's rules, in static shapes."""

import numpy as np
from keras import ops

from whisper.token_suppression import allowed_logits


class BeamSearch:
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
        self.rules = generator.timestamp_rules() if timestamps else None

    def run(self, inputs):
        beams = self.beam_size
        prompt_length = inputs["prompt_length"]
        cross_key_values, cache, token_ids, logits, no_speech = self.generator.start_decoding(
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
        logits = allowed_logits(state["logits"], inputs["never"], inputs["not_first"], first)
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
