"""Whisper's special tokens, tasks and languages, and OpenAI's two id layouts.

The tokenizer, the task model and every checkpoint importer and exporter
spell these the same way; this module is where they are written down.

English-only models reuse GPT-2's byte-level vocabulary, which ends with
`<|endoftext|>` = 50256, and have 51864 tokens in all; multilingual models
hold one more byte-level token, so there `<|endoftext|>` is 50257 and the
vocabulary has 51865 tokens (51866 for large-v3, which adds `<|yue|>`).

Example:

```python
from whisper.special_tokens import default_end_of_text_id, language_code

default_end_of_text_id(51864)  # 50256: English-only
language_code("French")  # "fr"
language_code("<|de|>")  # "de"
```
"""

START_OF_TRANSCRIPT_TOKEN = "<|startoftranscript|>"
END_OF_TEXT_TOKEN = "<|endoftext|>"
NO_TIMESTAMPS_TOKEN = "<|notimestamps|>"
PREVIOUS_TEXT_TOKEN = "<|startofprev|>"
# The no-speech token: newer vocabularies name it <|nospeech|>, older ones
# (tiny.en's among them) <|nocaptions|>.
NO_SPEECH_TOKENS = ("<|nospeech|>", "<|nocaptions|>")
# In OpenAI's layouts <|startofprev|> and the no-speech token are the two ids
# just before <|notimestamps|>, and timestamps start right after it.
PREVIOUS_TEXT_OFFSET = -2
NO_SPEECH_OFFSET = -1
# Timestamp tokens <|0.00|> ... <|30.00|> mark times within a 30 s window,
# 20 ms apart.
SECONDS_PER_TIMESTAMP = 0.02
MAX_TIMESTAMP_SECONDS = 30.0
# OpenAI's decoding keeps at most this many tokens of earlier text after
# <|startofprev|> (half the decoder's 448 positions, less one).
MAX_PREVIOUS_TEXT_TOKENS = 223
TASK_TOKENS = {"transcribe": "<|transcribe|>", "translate": "<|translate|>"}
TASKS = tuple(TASK_TOKENS)
REQUIRED_SPECIAL_TOKENS = (
    START_OF_TRANSCRIPT_TOKEN,
    END_OF_TEXT_TOKEN,
    NO_TIMESTAMPS_TOKEN,
    *TASK_TOKENS.values(),
)

ENGLISH = "en"
ENGLISH_ONLY_VOCABULARY_SIZE = 51864
ENGLISH_ONLY_END_OF_TEXT_ID = 50256
MULTILINGUAL_END_OF_TEXT_ID = 50257

# Whisper's languages by code, with the English names transformers also
# accepts for `language` (fine-tuning recipes store e.g. "hindi").
LANGUAGE_NAMES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish",
    "ru": "russian", "ko": "korean", "fr": "french", "ja": "japanese",
    "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian",
    "id": "indonesian", "hi": "hindi", "fi": "finnish", "vi": "vietnamese",
    "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian",
    "ta": "tamil", "no": "norwegian", "th": "thai", "ur": "urdu",
    "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak",
    "te": "telugu", "fa": "persian", "lv": "latvian", "bn": "bengali",
    "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque",
    "is": "icelandic", "hy": "armenian", "ne": "nepali", "mn": "mongolian",
    "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala",
    "km": "khmer", "sn": "shona", "yo": "yoruba", "so": "somali",
    "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic",
    "yi": "yiddish", "lo": "lao", "uz": "uzbek", "fo": "faroese",
    "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar",
    "bo": "tibetan", "tl": "tagalog", "mg": "malagasy", "as": "assamese",
    "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa",
    "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}  # fmt: skip
LANGUAGE_ALIASES = {
    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht",
    "letzeburgesch": "lb", "pushto": "ps", "panjabi": "pa", "moldavian": "ro",
    "moldovan": "ro", "sinhalese": "si", "castilian": "es", "mandarin": "zh",
}  # fmt: skip
LANGUAGE_CODES = {
    **{name: code for code, name in LANGUAGE_NAMES.items()},
    **LANGUAGE_ALIASES,
}


def is_english_only_vocabulary(vocabulary_size):
    """Whether a vocabulary of this size is OpenAI's English-only one."""
    return vocabulary_size == ENGLISH_ONLY_VOCABULARY_SIZE


def default_end_of_text_id(vocabulary_size):
    """`<|endoftext|>`'s id in OpenAI's layout for a vocabulary of this size."""
    if is_english_only_vocabulary(vocabulary_size):
        return ENGLISH_ONLY_END_OF_TEXT_ID
    return MULTILINGUAL_END_OF_TEXT_ID


def language_code(language):
    """The code of a language given as a code, a token or an English name.

    `"fr"`, `"<|fr|>"`, `"French"` and `"french"` all give `"fr"`; an
    unknown name comes back lowercased, for the caller to refuse.
    """
    language = language.strip().lower()
    if language.startswith("<|") and language.endswith("|>"):
        return language[2:-2]
    return LANGUAGE_CODES.get(language, language)


def language_token(code):
    """The token of a language code: `"fr"` gives `"<|fr|>"`."""
    return f"<|{code}|>"
