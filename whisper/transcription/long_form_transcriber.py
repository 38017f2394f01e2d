"""LongFormTranscriber: recordings of any length, with timestamps.

Sequential mode (`transcribe`) follows OpenAI's transcription loop. Each
30 s window is decoded with timestamps, conditioned on the text before it
(`<|startofprev|>`), and the next window starts where the last complete
segment ended, so no word is cut at a fixed boundary. A window whose text
repeats itself (gzip compression ratio above 2.4) or is improbable (under
-1.0 log-probability per token) is decoded again at the next temperature; a
window that is likely silence (no-speech probability above 0.6 and an
improbable text) is skipped. Windows are placed as OpenAI's loop places
them, whatever the audio holds: by default nothing else changes what the
model hears, so a recording under 30 s gives the tokens of one greedy
`generate` call (tested against transformers), and long recordings the
words of faster-whisper's sequential decoding on the same weights.

`silence_threshold` (off by default) turns on an energy floor that only
touches the result: segments are trimmed to their sound and a segment over
silence alone is dropped (`SpeechActivity`). It never moves a window.

Batched mode (`transcribe_batched`) decodes overlapping windows in
parallel, without the previous text, and keeps each segment from the window
in whose middle part it lies: faster on a wide accelerator, a little less
exact at the seams.

Example:

```python
from whisper import WhisperAudioToText
from whisper.audio_io import load_audio
from whisper.transcription.long_form_transcriber import LongFormTranscriber

model = WhisperAudioToText.from_preset("/path/to/preset")
transcriber = LongFormTranscriber(model, beam_size=5)
transcript = transcriber.transcribe(load_audio("lecture.flac"))
open("lecture.srt", "w").write(transcript.to_srt())
```
"""

import zlib

import numpy as np

from whisper.special_tokens import SECONDS_PER_TIMESTAMP
from whisper.transcription.speech_activity import SpeechActivity
from whisper.transcription.transcript import Segment
from whisper.transcription.transcript import Transcript

DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
# Above this temperature a window's text no longer conditions the next
# one: it is too likely to be wrong.
PROMPT_RESET_TEMPERATURE = 0.5
AUTO_LANGUAGE = "auto"


class LongFormTranscriber:
    """Transcribes whole recordings with a `WhisperAudioToText`.

    Args:
        model: a `WhisperAudioToText` with a tokenizer.
        language: a language code, `"auto"` to detect it from the first
            window (multilingual models), or None for the model's own.
        temperatures: tried in order until a window's text passes both
            thresholds.
        compression_ratio_threshold: gzip ratio above which text is taken to
            repeat itself; None never falls back on it.
        log_prob_threshold: log-probability per token under which text is
            improbable; None never falls back on it.
        no_speech_threshold: no-speech probability above which a window
            with improbable text is skipped; None skips nothing.
        condition_on_previous_text: prompt each window with the text so far.
        initial_prompt: text given as if it preceded the audio (vocabulary,
            spelling and style hints).
        beam_size: beams at temperature 0; None decodes greedily.
        patience: beam search patience (OpenAI's meaning).
        length_penalty: None, or alpha of the (5 + length) / 6 penalty.
        batch_size: windows decoded together in batched mode.
        silence_threshold: None (the default: segments as decoded), or the
            RMS (full scale 1.0; 1e-3 is -60 dBFS) under which audio is
            silence: trimmed off segments, and a segment of nothing else
            dropped (`SpeechActivity`). Windows are placed the same either
            way.
        without_timestamps: decode text only: each window is one segment
            and the next window follows it; faster when the segments' times
            matter little.
        jit_compile: decode with XLA.
    """

    def __init__(
        self,
        model,
        language=None,
        temperatures=DEFAULT_TEMPERATURES,
        compression_ratio_threshold=2.4,
        log_prob_threshold=-1.0,
        no_speech_threshold=0.6,
        condition_on_previous_text=True,
        initial_prompt=None,
        beam_size=None,
        patience=1.0,
        length_penalty=None,
        batch_size=8,
        silence_threshold=None,
        without_timestamps=False,
        jit_compile=True,
    ):
        if model.tokenizer is None:
            raise ValueError("Transcription needs a model with a tokenizer.")
        if not without_timestamps:
            model.timestamp_begin_id()  # Refuses a vocabulary without timestamps.
        self.model = model
        self.tokenizer = model.tokenizer
        self.language = language
        self.temperatures = tuple(temperatures)
        self.compression_ratio_threshold = compression_ratio_threshold
        self.log_prob_threshold = log_prob_threshold
        self.no_speech_threshold = no_speech_threshold
        self.condition_on_previous_text = condition_on_previous_text
        self.initial_prompt = initial_prompt
        self.beam_size = beam_size
        self.patience = patience
        self.length_penalty = length_penalty
        self.batch_size = batch_size
        self.silence_threshold = silence_threshold
        self.without_timestamps = without_timestamps
        self.jit_compile = jit_compile
        converter = model.audio_converter
        self.sampling_rate = converter.sampling_rate
        self.window_samples = int(converter.sampling_rate * converter.max_audio_length)
        self.samples_per_timestamp = round(converter.sampling_rate * SECONDS_PER_TIMESTAMP)
        self.max_length = model.backbone.max_decoder_sequence_length
        # OpenAI's budget: half the context for generated tokens, the other
        # half for the previous text.
        self.max_new_tokens = self.max_length // 2
        self.max_previous_tokens = self.max_length // 2 - 1

    # Sequential -----------------------------------------------------------

    def transcribe(self, waveform, progress=None):
        """A `Transcript` of a 16 kHz mono waveform of any length.

        Args:
            waveform: float (samples,).
            progress: called with (seconds done, seconds in all) after each
                window.
        """
        waveform = np.asarray(waveform, "float32")
        content = self._content_samples(waveform)
        language, language_probability = self._language(waveform)
        start_ids = self._start_ids(language)
        # The initial prompt opens the first window even without conditioning
        # on previous text, as in OpenAI's loop; conditioning keeps it after.
        previous = self._initial_prompt_ids()
        reset_at = 0
        segments, seek = [], 0
        while seek < content:
            window = waveform[seek : seek + self.window_samples]
            prompt = self._prompt(previous[reset_at:], start_ids)
            result = self._decode_with_fallback(self._features([window]), prompt)
            advance = len(window)
            if not self._is_silence(result):
                new_segments, moved, consumed = self._segments(result, seek / self.sampling_rate)
                segments += new_segments
                previous += [int(i) for i in result.window_ids[:consumed]]
                advance = moved or len(window)
                if not self.condition_on_previous_text or (
                    result.temperature > PROMPT_RESET_TEMPERATURE
                ):
                    reset_at = len(previous)
            seek += advance
            if progress is not None:
                done = len(waveform) if seek >= content else seek
                progress(done / self.sampling_rate, len(waveform) / self.sampling_rate)
        return self._transcript(waveform, segments, language, language_probability)

    # Batched --------------------------------------------------------------

    def transcribe_batched(self, waveform, overlap_seconds=5.0, progress=None):
        """A `Transcript` from overlapping windows decoded in parallel.

        Windows start every `30 - 2 * overlap_seconds` seconds; a segment is
        kept from the window whose middle part (all but `overlap_seconds` at
        each inner edge) holds its midpoint.
        """
        waveform = np.asarray(waveform, "float32")
        overlap = int(overlap_seconds * self.sampling_rate)
        hop = self.window_samples - 2 * overlap
        if hop <= 0:
            limit = self.window_samples / self.sampling_rate / 2
            raise ValueError(f"overlap_seconds must be under {limit} s.")
        language, language_probability = self._language(waveform)
        prompt = self._prompt(self._initial_prompt_ids(), self._start_ids(language))
        starts = list(range(0, max(len(waveform) - 2 * overlap, 1), hop))
        segments = []
        for first in range(0, len(starts), self.batch_size):
            batch = starts[first : first + self.batch_size]
            audio = [waveform[start : start + self.window_samples] for start in batch]
            results = self._decode_batch(self._features(audio), prompt)
            for start, result in zip(batch, results):
                if not self._is_silence(result):
                    segments += self._owned_segments(result, start, starts[-1], overlap)
            if progress is not None:
                done = min(batch[-1] + self.window_samples, len(waveform))
                progress(done / self.sampling_rate, len(waveform) / self.sampling_rate)
        return self._transcript(waveform, segments, language, language_probability)

    def _owned_segments(self, result, start, last_start, overlap):
        """The segments of the window at `start` whose midpoints lie in the
        part of the recording it owns: all but `overlap` at each inner edge."""
        offset = start / self.sampling_rate
        found, _, _ = self._segments(result, offset, last=start == last_start)
        low = 0.0 if start == 0 else (start + overlap) / self.sampling_rate
        high = np.inf
        if start != last_start:
            high = (start + self.window_samples - overlap) / self.sampling_rate
        return [s for s in found if low <= (s.start + s.end) / 2 < high]

    # The recording --------------------------------------------------------

    def _content_samples(self, waveform):
        """The samples of whole feature frames: OpenAI's loop stops there,
        though each window hears all the samples it covers (as transformers'
        features of a short clip do)."""
        stride = self.model.audio_converter.stride
        return len(waveform) // stride * stride

    def _transcript(self, waveform, segments, language, language_probability):
        """The `Transcript`: segments cut at the recording's end (those
        after it left out: the decoder times the padding of the last
        window too) and, with a silence threshold, trimmed to their sound."""
        duration = len(waveform) / self.sampling_rate
        segments = [segment for segment in segments if segment.start < duration]
        for segment in segments:
            segment.end = min(segment.end, duration)
        if self.silence_threshold is not None:
            activity = SpeechActivity(waveform, self.sampling_rate, self.silence_threshold)
            segments = activity.trimmed(segments)
        return Transcript(segments, language, duration, language_probability)

    # Prompts and language -------------------------------------------------

    def _language(self, waveform):
        """The language to decode in, and its detected probability."""
        language = self.language or self.model.language
        if language != AUTO_LANGUAGE:
            return language, None
        if not self.tokenizer.is_multilingual:
            return "en", None
        detected = self.model.detect_language(self._features([waveform[: self.window_samples]]))
        return max(detected[0].items(), key=lambda item: item[1])

    def _start_ids(self, language):
        return self.tokenizer.decoder_prompt_ids(
            language=language, task=self.model.task, timestamps=not self.without_timestamps
        )

    def _initial_prompt_ids(self):
        if not self.initial_prompt:
            return []
        return list(self.tokenizer.tokenize(" " + self.initial_prompt.strip()))

    def _prompt(self, previous, start_ids):
        previous = list(previous)[-self.max_previous_tokens :]
        if not previous:
            return list(start_ids)
        return [self.tokenizer.previous_text_token_id, *previous, *start_ids]

    def _features(self, windows):
        """(batch, frames, mels) features of windows zero-padded to 30 s."""
        padded = np.zeros((len(windows), self.window_samples), "float32")
        for row, window in zip(padded, windows):
            row[: len(window)] = window
        return self.model.audio_converter(padded)

    # Decoding -------------------------------------------------------------

    def _decode_with_fallback(self, features, prompt):
        """The first temperature's result that passes the thresholds (or
        that is silence), else the last one's."""
        for temperature in self.temperatures:
            (result,) = self._decode_batch(features, prompt, temperature)
            if not self._needs_fallback(result):
                break
        return result

    def _decode_batch(self, features, prompt, temperature=0.0):
        decoded = self.model.generator.decode(
            features,
            prompt,
            max_length=self.max_length,
            max_new_tokens=self.max_new_tokens,
            timestamps=not self.without_timestamps,
            temperature=temperature,
            beam_size=self.beam_size if temperature == 0 else None,
            patience=self.patience,
            length_penalty=self.length_penalty,
            jit_compile=self.jit_compile,
        )
        return [
            _WindowResult(ids, avg, no_speech, temperature, self._compression_ratio(ids))
            for ids, avg, no_speech in zip(
                decoded.token_ids, decoded.avg_log_probs, decoded.no_speech_probs
            )
        ]

    def _compression_ratio(self, token_ids):
        text = self.tokenizer.detokenize(
            [i for i in token_ids if i < self.tokenizer.eos_token_id]
        ).encode("utf-8")
        return len(text) / len(zlib.compress(text)) if text else 0.0

    def _needs_fallback(self, result):
        if self._is_silence(result):
            return False
        too_repetitive = (
            self.compression_ratio_threshold is not None
            and result.compression_ratio > self.compression_ratio_threshold
        )
        too_improbable = (
            self.log_prob_threshold is not None and result.avg_log_prob < self.log_prob_threshold
        )
        return too_repetitive or too_improbable

    def _is_silence(self, result):
        if self.no_speech_threshold is None or result.no_speech_prob <= self.no_speech_threshold:
            return False
        return self.log_prob_threshold is None or result.avg_log_prob < self.log_prob_threshold

    # Segments -------------------------------------------------------------

    def _segments(self, result, offset, last=False):
        """The window's segments (times from the recording's start), how
        many samples the next window moves on (None: the whole window), and
        how many of the window's ids those segments hold. With `last` (no
        window follows), text after the last complete segment is a segment
        to the window's end.

        Text between two adjacent timestamps is one segment. When the window
        ends inside a segment (the text stops at a lone timestamp that
        opens a segment, or with no timestamp), the next window starts at
        the last complete segment's end, so that speech cut by the window's
        end is decoded whole in the next.
        """
        ids = np.asarray(result.window_ids, "int64")
        begin = self.tokenizer.timestamp_begin_id
        is_timestamp = ids >= begin
        pair_ends = [i for i in range(1, len(ids)) if is_timestamp[i - 1] and is_timestamp[i]]
        ends_with_closing = len(ids) >= 2 and not is_timestamp[-2] and is_timestamp[-1]
        if not pair_ends:
            return self._one_segment(result, ids, is_timestamp, offset), None, len(ids)
        cuts = [*pair_ends, len(ids)] if ends_with_closing else pair_ends
        segments, previous_cut = [], 0
        for cut in cuts:
            piece = ids[previous_cut:cut]
            start = offset + self._seconds(piece[0])
            end = offset + self._seconds(piece[-1])
            segments.append(self._segment(result, start, end, piece))
            previous_cut = cut
        if ends_with_closing:
            return segments, None, previous_cut
        rest = ids[previous_cut:]
        if last and (rest < begin).any():
            start = offset + self._seconds(rest[0])
            end = offset + self.window_samples / self.sampling_rate
            segments.append(self._segment(result, start, end, rest))
        advance = int(ids[previous_cut - 1] - begin) * self.samples_per_timestamp
        return segments, advance, previous_cut

    def _one_segment(self, result, ids, is_timestamp, offset):
        """A window without timestamp pairs: one segment, to its last
        timestamp if it has one past 0, else to the window's end."""
        timestamps = ids[is_timestamp]
        end = offset + self.window_samples / self.sampling_rate
        if len(timestamps) and timestamps[-1] != self.tokenizer.timestamp_begin_id:
            end = offset + self._seconds(timestamps[-1])
        start = offset
        if len(timestamps) and is_timestamp[0]:
            start = offset + self._seconds(ids[0])
        return [self._segment(result, start, end, ids)] if (~is_timestamp).any() else []

    def _seconds(self, timestamp_id):
        """A timestamp token's time from its window's start."""
        return (timestamp_id - self.tokenizer.timestamp_begin_id) * SECONDS_PER_TIMESTAMP

    def _segment(self, result, start, end, ids):
        eos = self.tokenizer.eos_token_id
        text_ids = [int(i) for i in ids if i < eos]
        return Segment(
            start=float(start),
            end=float(end),
            text=self.tokenizer.detokenize(text_ids).strip(),
            tokens=[int(i) for i in ids if i != eos],
            avg_log_prob=float(result.avg_log_prob),
            no_speech_prob=float(result.no_speech_prob),
            temperature=result.temperature,
            compression_ratio=float(result.compression_ratio),
        )


class _WindowResult:
    """One window's decoded ids and the scores the fallback reads."""

    def __init__(self, window_ids, avg_log_prob, no_speech_prob, temperature, compression_ratio):
        self.window_ids = window_ids
        self.avg_log_prob = float(avg_log_prob)
        self.no_speech_prob = float(no_speech_prob)
        self.temperature = temperature
        self.compression_ratio = compression_ratio
