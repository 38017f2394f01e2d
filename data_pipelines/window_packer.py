"""Several short utterances in one 30 s window, their transcripts in one target.

Whisper was pretrained on 30 s windows holding as much speech as fitted.
Padding a 3 s clip to 30 s spends nine tenths of the encoder on silence;
cutting the window to the clip's length trains a regime the model never saw
(fine-tuned on very short windows it is reported to loop and hallucinate).
Packing keeps the 30 s window and fills it: consecutive examples of the
stream are concatenated, waveform after waveform, while the window and the
decoder have room and their prompts agree (one language to a window), and
their transcripts become one target, the prompt
once, then each text, then `<|endoftext|>` (the approach of distil-whisper's
training data).

Each member's target ids already start with a space before its first word
(see `WhisperTokenizer.training_target_ids`), so joining their text ids
gives exactly the ids of the transcripts joined by a space.

The packer is a `tf.data` scan (C++, no Python in the stream): a pack is
emitted when the next example does not fit, which then starts the next
pack. A pack's `"position"` lists its members' record positions, so a
resumed stream, which starts an empty pack at the first record no batch
held, makes the packs of the uninterrupted run.

Example:

```python
import tensorflow as tf
from data_pipelines.window_packer import WindowPacker

seconds = tf.constant([12, 10, 9])

def example(index):  # clip-0 of 12 s says "clip 0", its text id 11, ...
    return {"id": tf.strings.format("clip-{}", index), "position": index,
            "text": tf.strings.format("clip {}", index),
            "waveform": tf.zeros([seconds[index] * 16000]),
            "target_ids": tf.stack([50257, 50362, 11 + tf.cast(index, tf.int32), 50256])}

packer = WindowPacker(prompt_length=2, end_of_text_id=50256, max_samples=30 * 16000,
                      max_label_tokens=448)
packs = list(packer.pack(tf.data.Dataset.range(3).map(example)).as_numpy_iterator())
[pack["position"].tolist() for pack in packs]  # [[0, 1], [2]]: 12 s + 10 s, then 9 s
packs[0]["target_ids"].tolist()  # [50257, 50362, 11, 12, 50256]
packs[0]["text"]  # b"clip 0 clip 1"
```
"""

import tensorflow as tf

# The fields a pack holds: the members' concatenated waveform, their record
# positions and ids in order, their joined transcripts, and the joined target.
_EMPTY_PACK = {
    "waveform": ((0,), tf.float32),
    "position": ((0,), tf.int64),
    "member_ids": ((0,), tf.string),
    "text": ((), tf.string),
    # Prompt and joined texts, without the final <|endoftext|>.
    "target_head": ((0,), tf.int32),
}


class WindowPacker:
    """Packs a stream of decoded examples into windows of joined utterances.

    Args:
        prompt_length: int. Decoder prompt tokens at the start of every
            member's target ids (`len(tokenizer.decoder_prompt_ids(...))`);
            a pack keeps its first member's and drops the others'.
        end_of_text_id: int. The `<|endoftext|>` id ending every target.
        max_samples: int. Longest window, in samples (30 s at 16 kHz).
        max_label_tokens: int. Most decoder positions of a pack's target
            (target ids less one), as for single examples.
    """

    def __init__(self, prompt_length, end_of_text_id, max_samples, max_label_tokens):
        self.prompt_length = prompt_length
        self.end_of_text_id = end_of_text_id
        self.max_samples = max_samples
        self.max_label_tokens = max_label_tokens

    def pack(self, examples):
        """Packs of `examples`, in stream order.

        Args:
            examples: a dataset of dicts with `"id"` and `"text"` (strings),
                `"position"` (int64), `"waveform"` (samples,) float32 and
                `"target_ids"` (tokens,) int32; each alone fits a window.

        Returns:
            A dataset of dicts: `"waveform"`, `"target_ids"`, `"text"`,
            and the members' `"position"` (members,) int64 and `"id"`
            (members,) string, in order.
        """
        fields = ("id", "position", "text", "waveform", "target_ids")
        examples = examples.map(lambda example: ({k: example[k] for k in fields}, False))
        # A last, empty element flushes the final pack of a finite stream.
        flush = tf.data.Dataset.from_tensors((_empty_example(examples.element_spec[0]), True))
        emitted = examples.concatenate(flush).scan(_empty_pack(), self._step)
        packs = emitted.filter(lambda emit, _: emit)
        return packs.map(lambda _, pack: self._finished(pack))

    def _step(self, pack, element):
        """(next pack, (whether to emit, the pack emitted))."""
        example, is_flush = element
        not_emitted = (False, _empty_pack())
        return tf.cond(
            is_flush,
            lambda: (_empty_pack(), (tf.size(pack["position"]) > 0, pack)),
            lambda: tf.cond(
                self._fits(pack, example),
                lambda: (self._joined(pack, example), not_emitted),
                lambda: (self._joined(_empty_pack(), example), (True, pack)),
            ),
        )

    def _fits(self, pack, example):
        samples = tf.size(pack["waveform"]) + tf.size(example["waveform"])
        # The joined target is the head, this text and <|endoftext|>: its
        # decoder positions (target ids less one) are head plus text.
        decoder_positions = tf.size(pack["target_head"]) + tf.size(self._text_ids(example))
        return (tf.size(pack["position"]) == 0) | (
            (samples <= self.max_samples)
            & (decoder_positions <= self.max_label_tokens)
            & self._same_prompt(pack, example)
        )

    def _same_prompt(self, pack, example):
        """Whether the example's prompt (its language's) is the pack's."""
        pack_prompt = pack["target_head"][: self.prompt_length]
        example_prompt = example["target_ids"][: self.prompt_length]
        return tf.cond(
            tf.size(pack_prompt) == tf.size(example_prompt),
            lambda: tf.reduce_all(tf.equal(pack_prompt, example_prompt)),
            lambda: tf.size(pack["position"]) == 0,
        )

    def _joined(self, pack, example):
        first = tf.size(pack["position"]) == 0
        return {
            "waveform": tf.concat([pack["waveform"], example["waveform"]], 0),
            "position": tf.concat([pack["position"], example["position"][None]], 0),
            "member_ids": tf.concat([pack["member_ids"], example["id"][None]], 0),
            "text": tf.cond(
                first,
                lambda: example["text"],
                lambda: tf.strings.join([pack["text"], example["text"]], " "),
            ),
            "target_head": tf.cond(
                first,
                lambda: example["target_ids"][:-1],
                lambda: tf.concat([pack["target_head"], self._text_ids(example)], 0),
            ),
        }

    def _text_ids(self, example):
        return example["target_ids"][self.prompt_length : -1]

    def _finished(self, pack):
        return {
            "id": pack["member_ids"],
            "position": pack["position"],
            "text": pack["text"],
            "waveform": pack["waveform"],
            "target_ids": tf.concat([pack["target_head"], [self.end_of_text_id]], 0),
        }


def _empty_pack():
    return {name: tf.zeros(shape, dtype) for name, (shape, dtype) in _EMPTY_PACK.items()}


def _empty_example(spec):
    return {name: tf.zeros([0] * len(field.shape), field.dtype) for name, field in spec.items()}
