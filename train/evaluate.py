"""Word and character error rates of greedy transcription.

Hypotheses and references are compared after Whisper's text normalization
(`whisper_normalizer`, OpenAI's normalizers packaged on PyPI), as in the
Whisper paper: for English, lowercase; bracketed and parenthesized text,
filler words and punctuation removed; British spellings made American; spelled
numbers and currencies written as digits ("twenty one dollars" -> "$21").

```python
from train.evaluate import error_rates, text_normalizer

wer, cer = error_rates(
    ["Twenty one dollars, please."], ["$21 please"], text_normalizer("en")
)
assert (wer, cer) == (0.0, 0.0)
```

`evaluate(model, eval_examples, batch_size=16)` transcribes and scores a
held-out set; the trackers (train/tracking.py) show its predictions.
"""

import dataclasses

import jiwer
import numpy as np
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from whisper.whisper_audio_converter import ALL_SILENT_VALUE
from whisper.whisper_audio_converter import silence_value


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Error rates over a corpus, and every transcription.

    `wer` and `cer` are corpus rates (all edits over all reference words or
    characters, after normalization), not means of per-example rates.
    `predictions` holds (id, reference, hypothesis) with the texts as they
    were, before normalization.
    """

    wer: float
    cer: float
    num_examples: int
    predictions: list


def text_normalizer(language=None):
    """Whisper's normalizer for `language`: English's for None or "en"
    (English-only models), the basic one (no number or spelling rules)
    otherwise."""
    if language in (None, "en"):
        return EnglishTextNormalizer()
    return BasicTextNormalizer()


def evaluate(
    model,
    eval_examples,
    *,
    batch_size,
    max_length=None,
    normalizer=None,
    jit_compile=True,
):
    """Transcribes `eval_examples` greedily and scores the transcriptions.

    Args:
        model: a `WhisperAudioToText` with a tokenizer.
        eval_examples: an iterable of (id, features, reference text), features
            a float (frames, num_mels) array from the model's audio converter.
            Clips may differ in length: each batch is padded with silence to
            its longest clip.
        batch_size: clips decoded together. The last batch is filled with
            silent rows, so every batch has one shape and decoding compiles
            once (as long as the frame counts agree, e.g. 30 s features).
        max_length: most tokens per transcription, prompt included; defaults
            to the backbone's `max_decoder_sequence_length`.
        normalizer: text -> text applied to references and hypotheses before
            scoring; defaults to `text_normalizer(model.language)`.
        jit_compile: compile decoding with XLA.

    Returns:
        An `EvaluationResult`.
    """
    if normalizer is None:
        normalizer = text_normalizer(model.language)
    predictions = []
    for batch in _batches(eval_examples, batch_size):
        ids, features, references = zip(*batch)
        token_ids = model.generate_token_ids(
            pad_batch(features, batch_size),
            max_length=max_length,
            jit_compile=jit_compile,
        )
        texts = model.tokenizer.detokenize(token_ids[: len(batch)], skip_special_tokens=True)
        hypotheses = [text.strip() for text in texts]
        predictions.extend(zip(ids, references, hypotheses))
    if not predictions:
        raise ValueError("evaluate() got no examples to transcribe.")
    references = [reference for _, reference, _ in predictions]
    hypotheses = [hypothesis for _, _, hypothesis in predictions]
    wer, cer = error_rates(references, hypotheses, normalizer)
    return EvaluationResult(wer, cer, len(predictions), predictions)


def error_rates(references, hypotheses, normalizer):
    """(WER, CER) of `hypotheses` against `references` after `normalizer`.

    References that normalize to nothing still count: every word
    hypothesized for them is an insertion.
    """
    references = [normalizer(text) for text in references]
    hypotheses = [normalizer(text) for text in hypotheses]
    return (
        float(jiwer.wer(references, hypotheses)),
        float(jiwer.cer(references, hypotheses)),
    )


def pad_batch(features, batch_size):
    """Stacks (frames, mels) clips into (batch_size, longest, mels).

    Shorter clips are padded with their own silence; missing rows (the last
    batch) are silent clips whose transcriptions the caller drops.
    """
    clips = [np.asarray(clip, "float32") for clip in features]
    longest = max(len(clip) for clip in clips)
    rows = [
        np.pad(
            clip,
            ((0, longest - len(clip)), (0, 0)),
            constant_values=silence_value(clip),
        )
        for clip in clips
    ]
    silent_row = np.full_like(rows[0], ALL_SILENT_VALUE)
    rows += [silent_row] * (batch_size - len(rows))
    return np.stack(rows)


def _batches(examples, batch_size):
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    batch = []
    for example in examples:
        batch.append(example)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
