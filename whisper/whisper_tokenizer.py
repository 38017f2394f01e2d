"""Whisper's byte-level BPE tokenizer, interchangeable with keras_hub's."""

import numbers
import os

import keras
import numpy as np
import tokenizers
from tokenizers import decoders
from tokenizers import models
from tokenizers import pre_tokenizers

from whisper.convert.tokenizer_files import HF_TOKENIZER_FILE
from whisper.convert.tokenizer_files import check_config_file_name
from whisper.convert.tokenizer_files import is_hf_tokenizer_json
from whisper.convert.tokenizer_files import keras_hub_assets
from whisper.convert.tokenizer_files import load_json_dict
from whisper.convert.tokenizer_files import load_merges
from whisper.convert.tokenizer_files import read_hf_tokenizer_json
from whisper.convert.tokenizer_files import write_keras_hub_assets
from whisper.preset_handles import resolve_preset
from whisper.preset_io import TOKENIZER_CONFIG_FILE
from whisper.preset_io import read_serialized
from whisper.preset_io import write_serialized
from whisper.special_tokens import END_OF_TEXT_TOKEN
from whisper.special_tokens import ENGLISH
from whisper.special_tokens import MAX_PREVIOUS_TEXT_TOKENS
from whisper.special_tokens import MAX_TIMESTAMP_SECONDS
from whisper.special_tokens import NO_SPEECH_OFFSET
from whisper.special_tokens import NO_SPEECH_TOKENS
from whisper.special_tokens import NO_TIMESTAMPS_TOKEN
from whisper.special_tokens import PREVIOUS_TEXT_OFFSET
from whisper.special_tokens import PREVIOUS_TEXT_TOKEN
from whisper.special_tokens import REQUIRED_SPECIAL_TOKENS
from whisper.special_tokens import SECONDS_PER_TIMESTAMP
from whisper.special_tokens import START_OF_TRANSCRIPT_TOKEN
from whisper.special_tokens import TASK_TOKENS
from whisper.special_tokens import language_token

# keras_hub writes the layer fields of its tokenizer into tokenizer.json.
DEFAULT_NAME = "whisper_tokenizer"
INTEGER_DTYPES = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
)


@keras.saving.register_keras_serializable(package="whisper")
class WhisperTokenizer:
    """Whisper's byte-level BPE tokenizer (GPT-2's, plus Whisper's tokens).

    Encodes text to token ids and back with Hugging Face `tokenizers`, giving
    the ids of OpenAI's and Hugging Face's Whisper tokenizers. Special and
    language tokens written inside text stay whole (`"a<|endoftext|>b"` is
    three tokens). Presets are read and written in keras_hub's format, so
    `keras_hub.models.WhisperTokenizer` loads what `save_to_preset` writes
    and this class loads keras_hub's presets.

    A tokenizer with `language_tokens` is multilingual: its decoder prompt
    names a language and a task. An English-only tokenizer (no
    `language_tokens`) only transcribes English, so its prompt names neither.

    Args:
        vocabulary: dict mapping byte-level tokens to ids, or the path of a
            `vocabulary.json` file holding one.
        merges: list of merge rules such as `"Ġ t"`, or the path of a
            `merges.txt` file with one rule a line.
        special_tokens: dict mapping special tokens to ids, or the path of a
            JSON file holding one. Must contain `<|startoftranscript|>`,
            `<|endoftext|>`, `<|notimestamps|>`, `<|transcribe|>` and
            `<|translate|>`.
        language_tokens: dict mapping language tokens such as `<|en|>` to
            ids, or the path of a JSON file holding one. `None` (the default)
            makes an English-only tokenizer.
        sequence_length: int. When set, `tokenize` truncates or pads (with
            `pad_token_id`) every sequence to this length.
        add_prefix_space: bool. Whether to add a space before text, so that
            its first word encodes as a word inside a sentence does.
        unsplittable_tokens: list of tokens kept whole when they appear in
            text. Defaults to every special and language token.
        config_file: name of the preset file holding this tokenizer's config;
            its assets live in `assets/<name without extension>/`.
        name: name written into the preset, as keras_hub names its layer.
        trainable: kept only so that keras_hub's config round-trips.
        dtype: an integer dtype name or keras_hub's `DTypePolicy` config;
            ids are returned as Python ints whatever it says.

    Example:

    ```pycon
    >>> vocabulary = {
    ...     "h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "he": 5, "ll": 6,
    ...     "hell": 7, "hello": 8, "Ġhello": 9,
    ... }
    >>> merges = ["h e", "l l", "he ll", "hell o", "Ġ hello"]
    >>> special_tokens = {
    ...     "<|endoftext|>": 10, "<|startoftranscript|>": 11,
    ...     "<|translate|>": 12, "<|transcribe|>": 13, "<|notimestamps|>": 14,
    ... }
    >>> tokenizer = WhisperTokenizer(vocabulary, merges, special_tokens)
    >>> tokenizer("hello hello")
    [8, 9]
    >>> tokenizer(["hello", "hello<|endoftext|>"])
    [[8], [8, 10]]
    >>> import tensorflow as tf
    >>> texts = tf.data.Dataset.from_tensor_slices(["hello", "hello hello"])
    >>> [ids.numpy().tolist() for ids in texts.map(tokenizer)]
    [[8], [8, 9]]
    >>> tokenizer.training_target_ids("hello")
    [11, 14, 9, 10]
    >>> tokenizer.detokenize([11, 14, 9, 10, 10])
    '<|startoftranscript|><|notimestamps|> hello<|endoftext|><|endoftext|>'
    >>> tokenizer.detokenize([11, 14, 9, 10, 10], skip_special_tokens=True)
    ' hello'

    ```

    Real vocabularies come from a preset or a Hugging Face tokenizer.json:

    ```python
    tokenizer = WhisperTokenizer.from_preset("/path/to/whisper_tiny_en")
    tokenizer = WhisperTokenizer.from_tokenizer_json("/path/to/tokenizer.json")
    ```
    """

    def __init__(
        self,
        vocabulary=None,
        merges=None,
        special_tokens=None,
        language_tokens=None,
        *,
        sequence_length=None,
        add_prefix_space=False,
        unsplittable_tokens=None,
        config_file=TOKENIZER_CONFIG_FILE,
        name=DEFAULT_NAME,
        trainable=True,
        dtype="int32",
    ):
        for argument, value in (
            ("vocabulary", vocabulary),
            ("merges", merges),
            ("special_tokens", special_tokens),
        ):
            if value is None:
                raise ValueError(
                    f"WhisperTokenizer needs `{argument}`. A keras_hub "
                    f"tokenizer.json keeps the vocabulary and merges in its "
                    f"preset's assets: load it with "
                    f"WhisperTokenizer.from_preset(preset_dir)."
                )
        self.vocabulary = load_json_dict(vocabulary, "vocabulary")
        self.merges = load_merges(merges)
        self._special_token_dict = load_json_dict(special_tokens, "special_tokens")
        self.language_tokens = (
            None if language_tokens is None else load_json_dict(language_tokens, "language_tokens")
        )
        _check_special_tokens(self._special_token_dict, self.language_tokens)
        if unsplittable_tokens is None:
            unsplittable_tokens = self.special_tokens + list(self.language_tokens or {})
        self.unsplittable_tokens = list(unsplittable_tokens)
        self.sequence_length = sequence_length
        self.add_prefix_space = add_prefix_space
        self.config_file = config_file
        self.name = name
        self.trainable = trainable
        self.dtype = _integer_dtype_name(dtype)

        # Like keras_hub, special and language tokens join the vocabulary so
        # that `token_to_id`, `id_to_token` and decoding know them.
        self._token_to_id = {
            **self.vocabulary,
            **(self.language_tokens or {}),
            **self._special_token_dict,
        }
        _check_unique_ids(self._token_to_id)
        self._non_text_ids = frozenset(self.special_token_ids) | frozenset(
            (self.language_tokens or {}).values()
        )
        self._tokenizer = self._build_tokenizer()

    def _build_tokenizer(self):
        merge_pairs = _merge_pairs(self.merges, self._token_to_id)
        tokenizer = tokenizers.Tokenizer(models.BPE(vocab=self._token_to_id, merges=merge_pairs))
        missing = [t for t in self.unsplittable_tokens if t not in self._token_to_id]
        if missing:
            raise ValueError(
                f"Unsplittable tokens {missing} are not in the vocabulary, "
                f"the special tokens or the language tokens."
            )
        # Added as special tokens, they are matched in text before the
        # pre-tokenizer runs and so never reach BPE; their ids are the ones
        # already in the vocabulary.
        tokenizer.add_special_tokens(self.unsplittable_tokens)
        # GPT-2's split regex (ByteLevel's `use_regex`), as OpenAI's tiktoken
        # and Hugging Face's Whisper tokenizer.json use.
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=self.add_prefix_space)
        tokenizer.decoder = decoders.ByteLevel()
        return tokenizer

    # Special tokens.

    @property
    def bos_token_id(self):
        """Id of `<|startoftranscript|>`, the first token of every prompt."""
        return self._special_token_dict[START_OF_TRANSCRIPT_TOKEN]

    @property
    def eos_token_id(self):
        """Id of `<|endoftext|>`, which ends every transcript."""
        return self._special_token_dict[END_OF_TEXT_TOKEN]

    @property
    def pad_token_id(self):
        """Padding id: `<|endoftext|>`, as in keras_hub and OpenAI."""
        return self.eos_token_id

    @property
    def no_timestamps_token_id(self):
        return self._special_token_dict[NO_TIMESTAMPS_TOKEN]

    @property
    def timestamp_begin_id(self):
        """Id of `<|0.00|>`: timestamps follow `<|notimestamps|>`, 20 ms apart."""
        return self.no_timestamps_token_id + 1

    @property
    def previous_text_token_id(self):
        """Id of `<|startofprev|>`, which opens a prompt of earlier text."""
        return self._special_token_dict.get(
            PREVIOUS_TEXT_TOKEN, self.no_timestamps_token_id + PREVIOUS_TEXT_OFFSET
        )

    @property
    def no_speech_token_id(self):
        """Id of the no-speech token, whose probability after
        `<|startoftranscript|>` says a window holds no speech."""
        for token in NO_SPEECH_TOKENS:
            if token in self._special_token_dict:
                return self._special_token_dict[token]
        return self.no_timestamps_token_id + NO_SPEECH_OFFSET

    @property
    def transcribe_token_id(self):
        return self._special_token_dict[TASK_TOKENS["transcribe"]]

    @property
    def translate_token_id(self):
        return self._special_token_dict[TASK_TOKENS["translate"]]

    @property
    def special_tokens(self):
        """The special tokens (a list), as keras_hub lists them."""
        return list(self._special_token_dict)

    @property
    def special_token_ids(self):
        return list(self._special_token_dict.values())

    @property
    def is_multilingual(self):
        return self.language_tokens is not None

    # Vocabulary.

    def vocabulary_size(self):
        """Number of tokens, special and language tokens included."""
        return len(self._token_to_id)

    def token_to_id(self, token):
        token_id = self._tokenizer.token_to_id(token)
        if token_id is None:
            raise ValueError(f"Token {token!r} is not in the vocabulary.")
        return token_id

    def id_to_token(self, token_id):
        token = None
        if isinstance(token_id, numbers.Integral) and token_id >= 0:
            token = self._tokenizer.id_to_token(int(token_id))
        if token is None:
            raise ValueError(f"Id {token_id!r} is not in the vocabulary.")
        return token

    def language_token_id(self, language):
        """Id of a language token, given as `"en"` or `"<|en|>"`."""
        if not self.is_multilingual:
            raise ValueError(
                f"This tokenizer is English-only and has no language tokens "
                f"(asked for language={language!r}). Use a multilingual "
                f"tokenizer, one built with `language_tokens`."
            )
        token = language
        if not str(language).startswith("<|"):
            token = language_token(language)
        if token not in self.language_tokens:
            raise ValueError(
                f"Unknown language {language!r}. Use one of: {', '.join(self.language_codes())}."
            )
        return self.language_tokens[token]

    def language_codes(self):
        """The language codes ("en", "zh", ...) in the order of their ids."""
        by_id = sorted(self.language_tokens, key=self.language_tokens.get)
        return [token.removeprefix("<|").removesuffix("|>") for token in by_id]

    # Decoder prompts and training targets.

    def decoder_prompt_ids(self, language=None, task="transcribe", timestamps=False):
        """The ids a decoder starts from, before any text.

        `[<|startoftranscript|>, <|lang|>, <|task|>, <|notimestamps|>]` for a
        multilingual tokenizer, which needs a `language`. An English-only
        tokenizer gives `[<|startoftranscript|>, <|notimestamps|>]`: it only
        transcribes English, so it accepts `language` `None` or `"en"` and
        `task="transcribe"`. `timestamps=True` drops `<|notimestamps|>`.
        """
        if task not in TASK_TOKENS:
            raise ValueError(
                f"Unknown task {task!r}. Use one of: {', '.join(repr(t) for t in TASK_TOKENS)}."
            )
        prompt = [self.bos_token_id]
        if self.is_multilingual:
            prompt += self._language_and_task_ids(language, task)
        else:
            self._check_english_only_request(language, task)
        if not timestamps:
            prompt.append(self.no_timestamps_token_id)
        return prompt

    def _language_and_task_ids(self, language, task):
        if language is None:
            raise ValueError(
                f"A multilingual tokenizer needs a `language` for its prompt. "
                f"Use one of: {', '.join(self.language_codes())}."
            )
        task_id = self._special_token_dict[TASK_TOKENS[task]]
        return [self.language_token_id(language), task_id]

    def _check_english_only_request(self, language, task):
        if language not in (None, ENGLISH, language_token(ENGLISH)):
            raise ValueError(
                f"language={language!r} needs a multilingual tokenizer. This "
                f"tokenizer is English-only: use language=None or 'en'."
            )
        if task != "transcribe":
            raise ValueError(
                f"task={task!r} needs a multilingual tokenizer. This "
                f"tokenizer is English-only: it supports only "
                f"task='transcribe'."
            )

    def training_target_ids(self, text, language=None, task="transcribe"):
        """Decoder ids to train on: prompt, transcript, `<|endoftext|>`.

        The transcript is encoded the way OpenAI's models write it: with
        exactly one leading space (`"Hello."` and `"  Hello."` both encode
        as `" Hello."`), because the pretrained models predict a space
        before the first word. A transcript that is empty or only whitespace
        adds no text tokens. The prompt has no timestamps; `language` and
        `task` are those of `decoder_prompt_ids`. `text` may be a string or a
        list of strings (then a list of id lists comes back).
        """
        prompt = self.decoder_prompt_ids(language=language, task=task)
        texts, batched = _as_text_batch(text)
        targets = [prompt + ids + [self.eos_token_id] for ids in self._transcript_ids(texts)]
        return targets if batched else targets[0]

    def timestamped_target_ids(self, segments, language=None, task="transcribe"):
        """Decoder ids to train timestamps on: prompt, timed segments, `<|endoftext|>`.

        The prompt has no `<|notimestamps|>`; each segment (an object with
        `start` and `end`, seconds from the window's start, and `text`)
        becomes the timestamp token of its start, its text encoded as
        `training_target_ids` encodes a transcript, and the timestamp token
        of its end: the format OpenAI's models write, and transformers'
        tokenizer encodes from `"<|0.00|> Hello.<|1.20|>"`.
        """
        prompt = self.decoder_prompt_ids(language=language, task=task, timestamps=True)
        texts = [segment.text for segment in segments]
        body = []
        for segment, text_ids in zip(segments, self._transcript_ids(texts)):
            start, end = (
                self.timestamp_token_id(segment.start),
                self.timestamp_token_id(segment.end),
            )
            body += [start, *text_ids, end]
        return prompt + body + [self.eos_token_id]

    def timestamp_token_id(self, seconds):
        """The id of the timestamp token nearest `seconds` (20 ms apart, 0 to 30 s)."""
        if not 0 <= seconds <= MAX_TIMESTAMP_SECONDS:
            raise ValueError(
                f"A timestamp must lie within a window, 0 to {MAX_TIMESTAMP_SECONDS:g} s; "
                f"got {seconds!r}."
            )
        return self.timestamp_begin_id + round(seconds / SECONDS_PER_TIMESTAMP)

    def previous_text_ids(self, text, max_tokens=MAX_PREVIOUS_TEXT_TOKENS):
        """`<|startofprev|>` and the last `max_tokens` tokens of `text`: the
        prompt of earlier text that precedes `<|startoftranscript|>`."""
        (text_ids,) = self._transcript_ids([text])
        return [self.previous_text_token_id, *text_ids[max(len(text_ids) - max_tokens, 0) :]]

    def _transcript_ids(self, texts):
        """Each text's ids with exactly one leading space (none if blank).

        Encoded here rather than by `tokenize`, whose `sequence_length`
        padding would land between the text and <|endoftext|>.
        """
        with_space = [f" {t.lstrip()}" if t.strip() else "" for t in texts]
        encodings = self._tokenizer.encode_batch(with_space, add_special_tokens=False)
        return [encoding.ids for encoding in encodings]

    # Encoding and decoding.

    def tokenize(self, inputs):
        """Encodes a string to a list of ids, or a batch to a list of lists.

        `inputs` is a string, bytes (UTF-8), or a list, tuple or 1-D array of
        them. With `sequence_length` set, sequences are truncated or padded.

        Inside `tf.data.Dataset.map` or a `tf.function`, where strings are
        symbolic tensors, ids come back as tensors of `dtype`, as keras_hub's
        tokenizer gives them: a 1-D tensor for a scalar string; for a 1-D
        batch, a `tf.RaggedTensor`, or a dense `(batch, sequence_length)`
        tensor when `sequence_length` is set. The encoding itself runs in
        Python (`tf.py_function`), so input pipelines at scale tokenize once
        ahead of training rather than in every epoch's map.
        """
        if _is_symbolic_tensor(inputs):
            return self._tokenize_in_graph(inputs)
        texts, batched = _as_text_batch(inputs)
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        ids = [self._fit_to_sequence_length(e.ids) for e in encodings]
        return ids if batched else ids[0]

    def __call__(self, inputs):
        return self.tokenize(inputs)

    def _tokenize_in_graph(self, strings):
        import tensorflow as tf  # Only reached with TensorFlow's own tensors.

        rank = strings.shape.rank
        if rank not in (0, 1):
            raise ValueError(f"Expected a scalar or 1-D string tensor, got shape {strings.shape}.")
        dtype = tf.as_dtype(self.dtype)

        def encode(flat_strings):
            rows = self.tokenize(flat_strings.numpy().tolist())
            values = np.array([i for row in rows for i in row], dtype.as_numpy_dtype)
            return values, np.array([len(row) for row in rows], np.int64)

        values, lengths = tf.py_function(
            encode, [tf.reshape(strings, [-1])], Tout=[dtype, tf.int64]
        )
        values.set_shape([None])
        if rank == 0:
            return tf.ensure_shape(values, [self.sequence_length])
        if self.sequence_length is not None:
            return tf.reshape(values, [-1, self.sequence_length])
        return tf.RaggedTensor.from_row_lengths(values, tf.ensure_shape(lengths, [None]))

    def _fit_to_sequence_length(self, ids):
        if self.sequence_length is None:
            return ids
        ids = ids[: self.sequence_length]
        return ids + [self.pad_token_id] * (self.sequence_length - len(ids))

    def detokenize(self, inputs, skip_special_tokens=False):
        """Decodes ids to a string, or a batch of sequences to a list of them.

        `inputs` is an int, a list of ints, a list of lists (rows may differ
        in length), or a 0-, 1- or 2-D array or tensor. Ids outside the
        vocabulary (such as timestamp ids of a vocabulary without them)
        decode to nothing, as in keras_hub. `skip_special_tokens=True` also
        drops special and language tokens, so padding after
        `<|endoftext|>` disappears too.
        """
        sequences, batched = _as_id_batch(inputs)
        if skip_special_tokens:
            sequences = [[i for i in ids if i not in self._non_text_ids] for ids in sequences]
        texts = self._tokenizer.decode_batch(sequences, skip_special_tokens=False)
        return texts if batched else texts[0]

    # Serialization.

    def get_config(self):
        """Every constructor argument, vocabulary and merges included."""
        return {
            "vocabulary": dict(self.vocabulary),
            "merges": list(self.merges),
            **self._preset_config(),
        }

    def _preset_config(self):
        # keras_hub's keys, in keras_hub's order; the vocabulary and merges
        # go to the preset's assets instead.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": self.dtype},
                "registered_name": None,
            },
            "config_file": self.config_file,
            "sequence_length": self.sequence_length,
            "add_prefix_space": self.add_prefix_space,
            "unsplittable_tokens": list(self.unsplittable_tokens),
            "special_tokens": dict(self._special_token_dict),
            "language_tokens": (
                None if self.language_tokens is None else dict(self.language_tokens)
            ),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def save_to_preset(self, preset_dir):
        """Writes `tokenizer.json` and its assets as keras_hub writes them.

        Like keras_hub, the assets hold the vocabulary as given, without the
        special and language tokens that the tokenizer adds to it.
        """
        write_keras_hub_assets(preset_dir, self.config_file, self.vocabulary, self.merges)
        # Written last, so a preset with a config always has its assets.
        write_serialized(
            os.path.join(preset_dir, self.config_file),
            self,
            self._preset_config(),
        )

    @classmethod
    def from_preset(cls, preset, config_file=TOKENIZER_CONFIG_FILE, **kwargs):
        """Loads a tokenizer that `save_to_preset` or keras_hub wrote, or the
        `tokenizer.json` of a transformers checkpoint or CTranslate2 model.

        Args:
            preset: an installed preset (`tiny_en`), a built-in preset name,
                a `kaggle://` or `hf://` handle, or a local directory.
            config_file: the tokenizer's config file inside a keras_hub preset.
            **kwargs: constructor arguments that override the preset's, such
                as `sequence_length`.
        """
        preset_dir = resolve_preset(preset)
        hf_tokenizer = os.path.join(preset_dir, HF_TOKENIZER_FILE)
        if is_hf_tokenizer_json(hf_tokenizer):
            # A transformers checkpoint or CTranslate2 model directory.
            return cls.from_tokenizer_json(hf_tokenizer, **kwargs)
        config_path = os.path.join(preset_dir, config_file)
        config = read_serialized(config_path, cls)
        check_config_file_name(config_path, config.get("config_file", config_file))
        assets = keras_hub_assets(preset_dir, config_file, preset)
        return cls.from_config({**config, **assets, **kwargs})

    def to_tokenizer_json(self):
        """This tokenizer as the text of a Hugging Face `tokenizer.json`.

        `from_tokenizer_json`, the `tokenizers` library and transformers'
        Whisper tokenizer read it back with the same ids. The special and
        language tokens are added tokens that also sit in the BPE
        vocabulary: `tokenizers` numbers added tokens missing from the
        vocabulary consecutively, and an English-only tokenizer, which has
        dropped its language tokens, has a gap in its ids.
        """
        return self._tokenizer.to_str()

    @classmethod
    def from_tokenizer_json(cls, path, multilingual=None, **kwargs):
        """Builds the tokenizer from a Hugging Face `tokenizer.json`.

        Added tokens named like `<|en|>` are language tokens; every other
        added token (`<|endoftext|>`, `<|notimestamps|>`, timestamps, ...) is
        a special token. Hugging Face lists language tokens for English-only
        models too, although those models never use them, so by default a
        file is multilingual only when its `<|endoftext|>` id is not GPT-2's
        50256 (multilingual: 50257); the language tokens of an English-only
        file are dropped. Pass `multilingual` to decide otherwise.

        Args:
            path: a `tokenizer.json` file, or a directory holding one.
            multilingual: `None` to decide from the ids, or a bool.
            **kwargs: further constructor arguments.
        """
        return cls(**read_hf_tokenizer_json(path, multilingual), **kwargs)


def _merge_pairs(merges, vocabulary):
    pairs = []
    for merge in merges:
        # merges.txt files may start with a "#version: 0.2" header.
        if merge.lstrip().startswith("#version:"):
            continue
        pair = tuple(merge.split(" "))
        if len(pair) != 2 or not all(token in vocabulary for token in pair):
            raise ValueError(
                f"Merge rule {merge!r} is not two vocabulary tokens separated by a space."
            )
        pairs.append(pair)
    return pairs


def _check_special_tokens(special_tokens, language_tokens):
    missing = [t for t in REQUIRED_SPECIAL_TOKENS if t not in special_tokens]
    if missing:
        raise ValueError(
            f"`special_tokens` lacks {missing}; a Whisper tokenizer needs "
            f"all of {list(REQUIRED_SPECIAL_TOKENS)}."
        )
    if language_tokens is not None and not language_tokens:
        raise ValueError("`language_tokens` is empty. Pass None for an English-only tokenizer.")


def _check_unique_ids(token_to_id):
    tokens_by_id = {}
    for token, token_id in token_to_id.items():
        if token_id in tokens_by_id:
            raise ValueError(
                f"Tokens {tokens_by_id[token_id]!r} and {token!r} share id {token_id}."
            )
        tokens_by_id[token_id] = token


def _integer_dtype_name(dtype):
    if isinstance(dtype, dict):  # keras_hub's serialized DTypePolicy.
        dtype = dtype["config"]["name"]
    dtype = getattr(dtype, "name", dtype)
    if dtype not in INTEGER_DTYPES:
        raise ValueError(
            f"WhisperTokenizer returns integer ids; dtype {dtype!r} is not one "
            f"of {list(INTEGER_DTYPES)}."
        )
    return dtype


def _is_symbolic_tensor(inputs):
    """Whether `inputs` is a TensorFlow tensor with no value yet (in a graph)."""
    if not type(inputs).__module__.startswith("tensorflow"):
        return False
    import tensorflow as tf

    return tf.is_symbolic_tensor(inputs)


def _as_text_batch(inputs):
    """Returns (list of str, whether `inputs` was a batch)."""
    if hasattr(inputs, "numpy"):  # A TensorFlow string tensor.
        inputs = inputs.numpy()
    if isinstance(inputs, np.ndarray):
        inputs = inputs.tolist()
    if isinstance(inputs, (str, bytes)):
        return [_as_text(inputs)], False
    if isinstance(inputs, (list, tuple)):
        return [_as_text(text) for text in inputs], True
    raise TypeError(f"Expected a string or a list of strings, got {type(inputs).__name__}.")


def _as_text(text):
    if isinstance(text, bytes):
        return text.decode("utf-8")
    if not isinstance(text, str):
        raise TypeError(
            f"Expected a string or a list of strings; found an element of "
            f"type {type(text).__name__}."
        )
    return text


def _as_id_batch(inputs):
    """Returns (list of lists of int, whether `inputs` was a batch)."""
    if hasattr(inputs, "to_list"):  # A tf.RaggedTensor.
        inputs = inputs.to_list()
    if isinstance(inputs, (list, tuple)):
        if not inputs or _is_id(inputs[0]):
            return [_as_ids(inputs)], False
        return [_as_ids(row) for row in inputs], True
    array = np.asarray(inputs)
    if array.ndim == 0:
        return [_as_ids([array.item()])], False
    if array.ndim == 1:
        return [_as_ids(array)], False
    if array.ndim == 2:
        return [_as_ids(row) for row in array], True
    raise ValueError(f"Expected at most 2 dimensions of ids, got shape {array.shape}.")


def _is_id(value):
    return isinstance(value, (numbers.Integral, np.integer)) or (
        isinstance(value, np.ndarray) and value.ndim == 0
    )


def _as_ids(row):
    array = np.asarray(row)
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"Token ids must be integers, got dtype {array.dtype}.")
    ids = array.astype(np.int64).reshape(-1).tolist()
    negative = [i for i in ids if i < 0]
    if negative:
        raise ValueError(
            f"Token ids must not be negative, got {negative[0]}. Replace "
            f"label padding such as -100 with `pad_token_id` before decoding."
        )
    return ids
