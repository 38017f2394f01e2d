import doctest
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tokenizers

import whisper.whisper_tokenizer as whisper_tokenizer_module
from whisper import preset_handles
from whisper import preset_io
from whisper.whisper_tokenizer import WhisperTokenizer

# Strings on which keras_hub 0.32, Hugging Face and we agree.
PARITY_TEXTS = [
    "Hello world.",
    " Hello world.",
    "Hello world. ",
    "  two  leading spaces",
    "trailing spaces   ",
    "multiple   inner    spaces",
    "",
    " ",
    "   ",
    "\n",
    "line1\nline2\n\n  x",
    "tabs\tand\r\ncarriage returns",
    "Café, naïve, façade, résumé, Ångström.",
    "東京は日本の首都です。北京欢迎你",
    "한국어 텍스트 Привет, мир! مرحبا Ελληνικά",
    "Emoji 😀🎉👍🏽 and flags 🇫🇷",
    'Wait... what?! (Really) [yes] {no} <maybe> "quoted"',
    "a-b_c/d\\e|f@g#h$i%j^k&l*m+n=o~p`q",
    "—en–dash…ellipsis“curly”‘quotes’",
    "123 4567 89012 3.14159 1,000,000 $5.99 50% 2024-01-01 10:30pm 007",
    "I'm sure it's John's, isn't it? We'll see; they've said you'd",
    "don't DON'T",
    "text<|endoftext|>",
    "a<|endoftext|>b",
    "<|startoftranscript|><|notimestamps|> Hello<|endoftext|>",
    "a <|transcribe|> b <|translate|>c <|endoftext|><|endoftext|>",
    "The quick brown fox jumps over the lazy dog. " * 3,
]

# keras_hub 0.32's Python path hands its `tokenizers.pre_tokenizers.Split` the
# GPT-2 regex as a plain string, which `tokenizers` matches literally, so it
# never splits text into words and BPE merges across word boundaries. OpenAI's
# tiktoken and Hugging Face split with the regex first; we match them.
WORD_SPLIT_TEXTS = [
    "'tis said 'single' quotes",
    "line two\n\nline four",
    "(Z'll",
    ",'s a",
    "$1東$'s",
]

# The ids of `<|fr|>` in a text: keras_hub keeps language tokens in its
# vocabulary but does not make them unsplittable unless told to.
LANGUAGE_TOKEN_TEXT = "Bonjour <|fr|> tout le monde"


def keras_hub_tokenizer(**kwargs):
    import keras_hub

    # keras_hub numbers the names of later instances; ours keep one name.
    tokenizer = keras_hub.models.WhisperTokenizer(name="whisper_tokenizer", **kwargs)
    assert type(tokenizer).__module__.startswith("keras_hub")
    return tokenizer


def keras_hub_ids(tokenizer, inputs):
    outputs = tokenizer(inputs)
    if isinstance(inputs, str):
        return [int(i) for i in outputs]
    return [[int(i) for i in row] for row in outputs]


@pytest.fixture(scope="module")
def english(english_keras_hub_assets):
    return WhisperTokenizer(**english_keras_hub_assets)


@pytest.fixture(scope="module")
def english_oracle(english_keras_hub_assets):
    return keras_hub_tokenizer(**english_keras_hub_assets)


@pytest.fixture(scope="module")
def multilingual(multilingual_keras_hub_assets):
    return WhisperTokenizer(**multilingual_keras_hub_assets)


@pytest.fixture(scope="module")
def multilingual_oracle(multilingual_keras_hub_assets):
    return keras_hub_tokenizer(**multilingual_keras_hub_assets)


@pytest.fixture(scope="module")
def hugging_face(english_tokenizer_json_path):
    tokenizer = tokenizers.Tokenizer.from_file(english_tokenizer_json_path)
    # The file's post-processor wraps every text in a prompt; compare text ids.
    tokenizer.post_processor = None
    return tokenizer


@pytest.fixture(scope="module")
def multilingual_tokenizer_json_path(english_tokenizer_json_path, tmp_path_factory):
    """A Hugging Face tokenizer.json in the multilingual id layout.

    tiny.en's file with every added token one id up and merges written as
    pairs, the format newer `tokenizers` releases write.
    """
    with open(english_tokenizer_json_path, encoding="utf-8") as file:
        data = json.load(file)
    for token in data["added_tokens"]:
        token["id"] += 1
    data["model"]["vocab"]["<|endoftext|>"] += 1
    data["model"]["merges"] = [m.split(" ") for m in data["model"]["merges"]]
    path = tmp_path_factory.mktemp("multilingual_json") / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


# --- Token ids ----------------------------------------------------------------


@pytest.mark.parametrize("text", PARITY_TEXTS)
def test_english_ids_match_keras_hub_and_hugging_face(english, english_oracle, hugging_face, text):
    ids = english(text)
    assert ids == keras_hub_ids(english_oracle, text)
    assert ids == hugging_face.encode(text).ids


def test_special_tokens_in_text_stay_whole(english):
    assert english("a<|endoftext|>b") == [64, 50256, 65]
    assert english("<|startoftranscript|>x") == [50257, 87]


@pytest.mark.parametrize("text", WORD_SPLIT_TEXTS)
def test_words_are_split_as_openai_and_hugging_face_split_them(english, hugging_face, text):
    assert english(text) == hugging_face.encode(text).ids


def test_quote_after_space_encodes_as_openai_does(english):
    # " '" and "tis" are two words for GPT-2's split regex.
    assert english(" 'tis") == [705, 48010]


def test_batch_matches_keras_hub_and_single_calls(english, english_oracle):
    batch = english(PARITY_TEXTS)
    assert batch == keras_hub_ids(english_oracle, PARITY_TEXTS)
    assert batch == [english(text) for text in PARITY_TEXTS]
    assert english.tokenize(tuple(PARITY_TEXTS[:2])) == batch[:2]
    assert english(np.array(PARITY_TEXTS[:3])) == batch[:3]
    assert english(tf.constant(PARITY_TEXTS[:3])) == batch[:3]
    assert english(tf.constant("Hello world.")) == batch[0]
    assert english(b"Hello world.") == batch[0]
    assert english([]) == []


def test_maps_over_a_dataset_of_strings_as_keras_hubs_does(english, english_oracle):
    # keras_hub's recipe, `ds.map(tokenizer)`: ids of keras_hub's shapes
    # (a vector per string, a ragged batch per batch; its own graph path
    # needs tensorflow-text, so its eager ids are the reference).
    texts = PARITY_TEXTS[:4] + [""]
    expected = keras_hub_ids(english_oracle, texts)
    dataset = tf.data.Dataset.from_tensor_slices(texts)
    one_by_one = dataset.map(english)
    assert one_by_one.element_spec == tf.TensorSpec([None], tf.int32)
    assert [ids.tolist() for ids in one_by_one.as_numpy_iterator()] == expected
    batched = dataset.batch(3).map(english)
    assert batched.element_spec == tf.RaggedTensorSpec([None, None], tf.int32, 1, tf.int64)
    assert [row for batch in batched for row in batch.to_list()] == expected


def test_maps_to_dense_ids_of_the_sequence_length(english_keras_hub_assets):
    tokenizer = WhisperTokenizer(**english_keras_hub_assets, sequence_length=4, dtype="int64")
    dataset = tf.data.Dataset.from_tensor_slices(["Hi", "The quick brown fox jumps"])
    expected = [[17250, 50256, 50256, 50256], [464, 2068, 7586, 21831]]
    assert dataset.map(tokenizer).element_spec == tf.TensorSpec([4], tf.int64)
    assert [ids.tolist() for ids in dataset.map(tokenizer).as_numpy_iterator()] == expected
    (batch,) = dataset.batch(2).map(tokenizer).as_numpy_iterator()
    assert batch.tolist() == expected
    with pytest.raises(ValueError, match=r"scalar or 1-D string tensor, got shape \(None, None\)"):
        dataset.batch(2).batch(1).map(tokenizer)


@pytest.mark.parametrize("text", PARITY_TEXTS[::3] + ["x <|transcribe|> y"])
def test_multilingual_ids_match_keras_hub(multilingual, multilingual_oracle, text):
    assert multilingual(text) == keras_hub_ids(multilingual_oracle, text)


def test_multilingual_special_tokens_in_text_stay_whole(multilingual):
    assert multilingual("a<|endoftext|>b") == [64, 50257, 65]
    assert 50256 not in multilingual("<|endoftext|>")


def test_language_tokens_in_text_stay_whole(multilingual, multilingual_keras_hub_assets):
    fr = multilingual.language_token_id("fr")
    ids = multilingual(LANGUAGE_TOKEN_TEXT)
    assert ids == multilingual("Bonjour ") + [fr] + multilingual(" tout le monde")
    # keras_hub splits them by default, but agrees once told what we keep
    # whole, which is what our preset files tell it.
    default = keras_hub_tokenizer(**multilingual_keras_hub_assets)
    assert fr not in keras_hub_ids(default, LANGUAGE_TOKEN_TEXT)
    told = keras_hub_tokenizer(
        **multilingual_keras_hub_assets,
        unsplittable_tokens=multilingual.unsplittable_tokens,
    )
    assert keras_hub_ids(told, LANGUAGE_TOKEN_TEXT) == ids


def test_unsplittable_tokens_given_are_honoured(multilingual_keras_hub_assets):
    # keras_hub's own files list only the special tokens: a language token in
    # text is then encoded as text, exactly as keras_hub encodes it.
    tokenizer = WhisperTokenizer(
        **multilingual_keras_hub_assets,
        unsplittable_tokens=list(multilingual_keras_hub_assets["special_tokens"]),
    )
    oracle = keras_hub_tokenizer(**multilingual_keras_hub_assets)
    assert tokenizer(LANGUAGE_TOKEN_TEXT) == keras_hub_ids(oracle, LANGUAGE_TOKEN_TEXT)
    assert tokenizer.token_to_id("<|fr|>") == 50265


def test_sequence_length_pads_and_truncates_like_keras_hub(
    english_keras_hub_assets,
):
    ours = WhisperTokenizer(**english_keras_hub_assets, sequence_length=4)
    theirs = keras_hub_tokenizer(**english_keras_hub_assets, sequence_length=4)
    texts = ["Hi", "The quick brown fox jumps"]
    assert ours(texts) == [
        [17250, 50256, 50256, 50256],
        [464, 2068, 7586, 21831],
    ]
    assert ours(texts) == keras_hub_ids(theirs, texts)
    assert ours("Hi") == [17250, 50256, 50256, 50256]


def test_add_prefix_space_matches_keras_hub(english_keras_hub_assets):
    ours = WhisperTokenizer(**english_keras_hub_assets, add_prefix_space=True)
    theirs = keras_hub_tokenizer(**english_keras_hub_assets, add_prefix_space=True)
    texts = ["Hello world.", " Hello", "a<|endoftext|>b"]
    assert ours(texts) == keras_hub_ids(theirs, texts)
    assert ours("Hello") == [18435]


# --- Vocabulary and special tokens --------------------------------------------


def test_english_special_token_ids(english, english_oracle):
    assert not english.is_multilingual
    assert english.language_tokens is None
    assert english.bos_token_id == 50257
    assert english.eos_token_id == english.pad_token_id == 50256
    assert english.no_timestamps_token_id == 50362
    # OpenAI orders <|translate|> before <|transcribe|>.
    assert (english.translate_token_id, english.transcribe_token_id) == (
        50357,
        50358,
    )
    for name in (
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "no_timestamps_token_id",
        "translate_token_id",
        "transcribe_token_id",
        "special_tokens",
        "special_token_ids",
    ):
        assert getattr(english, name) == getattr(english_oracle, name), name


def test_multilingual_special_and_language_token_ids(multilingual, multilingual_oracle):
    assert multilingual.is_multilingual
    assert multilingual.bos_token_id == 50258
    assert multilingual.eos_token_id == multilingual.pad_token_id == 50257
    assert multilingual.no_timestamps_token_id == 50363
    assert multilingual.translate_token_id == 50358
    assert multilingual.transcribe_token_id == 50359
    assert len(multilingual.language_tokens) == 99
    assert multilingual.language_token_id("en") == 50259
    assert multilingual.language_token_id("<|en|>") == 50259
    assert multilingual.language_token_id("su") == 50357
    assert multilingual.language_tokens == multilingual_oracle.language_tokens
    assert multilingual.special_token_ids == multilingual_oracle.special_token_ids


@pytest.mark.parametrize("name", ["english", "multilingual"])
def test_vocabulary_lookups_match_keras_hub(request, name):
    ours = request.getfixturevalue(name)
    theirs = request.getfixturevalue(f"{name}_oracle")
    assert ours.vocabulary_size() == theirs.vocabulary_size()
    for token in ["Ġhello", "!", "<|endoftext|>", "<|startoftranscript|>"]:
        assert ours.token_to_id(token) == theirs.token_to_id(token)
    for token_id in [0, 31373, 50255, ours.eos_token_id, ours.bos_token_id]:
        assert ours.id_to_token(token_id) == theirs.id_to_token(token_id)


def test_unknown_token_and_id_are_named(english):
    with pytest.raises(ValueError, match=r"'<\|fr\|>' is not in the vocabulary"):
        english.token_to_id("<|fr|>")
    with pytest.raises(ValueError, match="Id 99999 is not in the vocabulary"):
        english.id_to_token(99999)
    with pytest.raises(ValueError, match="Id -1"):
        english.id_to_token(-1)


# --- Decoding -----------------------------------------------------------------


@pytest.mark.parametrize("text", PARITY_TEXTS)
def test_detokenize_inverts_tokenize(english, text):
    assert english.detokenize(english(text)) == text


def test_detokenize_matches_keras_hub(english, english_oracle):
    batch = [[50257, 50362, 18435, 995, 13, 50256], [31373]]
    assert english.detokenize(batch) == english_oracle.detokenize(batch)
    assert english.detokenize(batch[0]) == english_oracle.detokenize(batch[0])


def test_skip_special_tokens_drops_prompt_eot_and_padding(english):
    ids = english.training_target_ids("Hello world.") + [english.pad_token_id] * 3
    assert english.detokenize(ids).endswith("<|endoftext|>" * 4)
    assert english.detokenize(ids, skip_special_tokens=True) == " Hello world."


def test_skip_special_tokens_drops_language_tokens(multilingual):
    ids = multilingual.training_target_ids("Salut.", language="fr")
    assert multilingual.detokenize(ids).startswith(
        "<|startoftranscript|><|fr|><|transcribe|><|notimestamps|>"
    )
    assert multilingual.detokenize(ids, skip_special_tokens=True) == " Salut."


def test_detokenize_accepts_arrays_tensors_and_ragged_batches(english):
    prompt = english.decoder_prompt_ids()
    padded = np.array(
        [prompt + [31373, 995, 50256], prompt + [31373, 50256, 50256]],
        dtype=np.int32,
    )
    texts = ["hello world", "hello"]
    assert english.detokenize(padded, skip_special_tokens=True) == texts
    assert english.detokenize(padded[0], skip_special_tokens=True) == texts[0]
    assert english.detokenize(tf.constant(padded), skip_special_tokens=True) == texts
    ragged = [[18435, 995], [18435]]
    texts = [" Hello world", " Hello"]
    assert english.detokenize(ragged) == texts
    assert english.detokenize(tf.ragged.constant(ragged)) == texts
    assert english.detokenize([np.array(row) for row in ragged]) == texts
    assert english.detokenize(np.int64(18435)) == " Hello"
    assert english.detokenize(18435) == " Hello"
    assert english.detokenize([]) == ""


def test_ids_outside_the_vocabulary_decode_to_nothing(english):
    # Timestamp ids are not in tiny.en's vocabulary; keras_hub drops them too.
    assert english.detokenize([50364, 18435, 50400]) == " Hello"


@pytest.mark.parametrize(
    "ids, error, message",
    [
        ([18435, -100], ValueError, "-100"),
        (np.array([1.5, 2.0]), TypeError, "float64"),
        (np.zeros((1, 2, 3), dtype=int), ValueError, r"shape \(1, 2, 3\)"),
    ],
)
def test_bad_ids_are_named(english, ids, error, message):
    with pytest.raises(error, match=message):
        english.detokenize(ids)


@pytest.mark.parametrize("inputs", [3, {"text": "a"}, ["a", 3]])
def test_bad_text_inputs_are_named(english, inputs):
    with pytest.raises(TypeError, match="string"):
        english(inputs)


# --- Prompts and training targets ---------------------------------------------


def test_english_decoder_prompt_ids(english):
    assert english.decoder_prompt_ids() == [50257, 50362]
    assert english.decoder_prompt_ids(timestamps=True) == [50257]
    # An English-only model only transcribes English: "en" adds no token.
    assert english.decoder_prompt_ids(language="en") == [50257, 50362]
    assert english.decoder_prompt_ids(language="<|en|>") == [50257, 50362]


def test_multilingual_decoder_prompt_ids(multilingual):
    start, english_id, german, french = 50258, 50259, 50261, 50265
    translate, transcribe, no_timestamps = 50358, 50359, 50363
    prompt = multilingual.decoder_prompt_ids(language="fr")
    assert prompt == [start, french, transcribe, no_timestamps]
    prompt = multilingual.decoder_prompt_ids(language="<|de|>", task="translate")
    assert prompt == [start, german, translate, no_timestamps]
    prompt = multilingual.decoder_prompt_ids(language="en", timestamps=True)
    assert prompt == [start, english_id, transcribe]


def test_english_training_target_ids(english, hugging_face):
    expected = [50257, 50362, 18435, 995, 13, 50256]
    assert english.training_target_ids("Hello world.") == expected
    # One leading space, as OpenAI's models write transcripts.
    assert hugging_face.encode(" Hello world.").ids == expected[2:-1]
    assert english.training_target_ids(" Hello world.") == expected
    assert english.training_target_ids("\n  Hello world.") == expected
    # Trailing whitespace is kept.
    assert english.training_target_ids("Hello world. ")[-2:] == [220, 50256]
    assert english.training_target_ids("") == [50257, 50362, 50256]
    assert english.training_target_ids("   ") == [50257, 50362, 50256]
    assert english.training_target_ids(["Hello world.", ""]) == [
        expected,
        [50257, 50362, 50256],
    ]


def test_multilingual_training_target_ids(multilingual):
    target = multilingual.training_target_ids("Hello world.", language="en")
    prompt = multilingual.decoder_prompt_ids(language="en")
    assert target == prompt + [18435, 995, 13, 50257]
    translated = multilingual.training_target_ids("Hi", language="de", task="translate")
    assert translated[:4] == [50258, 50261, 50358, 50363]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"task": "summarize"},
            r"Unknown task 'summarize'.*'transcribe', 'translate'",
        ),
        (
            {"language": "fr"},
            r"language='fr' needs a multilingual.*None or 'en'",
        ),
        (
            {"task": "translate"},
            r"task='translate' needs a multilingual.*'transcribe'",
        ),
    ],
)
def test_english_prompt_errors_name_the_value_and_what_is_allowed(english, kwargs, message):
    with pytest.raises(ValueError, match=message):
        english.decoder_prompt_ids(**kwargs)
    with pytest.raises(ValueError, match=message):
        english.training_target_ids("Hello", **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, r"needs a `language`.*en, zh, de"),
        ({"language": "xx"}, r"Unknown language 'xx'.*en, zh, de, .*, su\."),
        ({"language": "en", "task": "summarize"}, r"Unknown task 'summarize'"),
    ],
)
def test_multilingual_prompt_errors_name_the_value_and_what_is_allowed(
    multilingual, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        multilingual.decoder_prompt_ids(**kwargs)


def test_language_token_id_on_english_only_names_the_language(english):
    with pytest.raises(ValueError, match=r"English-only.*language='en'"):
        english.language_token_id("en")


# --- Construction -------------------------------------------------------------


def test_special_and_language_tokens_may_be_json_files(
    multilingual, multilingual_keras_hub_assets, tmp_path
):
    paths = {}
    for key in ("special_tokens", "language_tokens"):
        paths[key] = tmp_path / f"{key}.json"
        paths[key].write_text(json.dumps(multilingual_keras_hub_assets[key]))
    tokenizer = WhisperTokenizer(
        multilingual_keras_hub_assets["vocabulary"],
        multilingual_keras_hub_assets["merges"],
        str(paths["special_tokens"]),
        paths["language_tokens"],
    )
    assert tokenizer.get_config() == multilingual.get_config()


def small_tokenizer_arguments():
    vocabulary = {"a": 0, "b": 1, "ab": 2, "Ġ": 3}
    special_tokens = {
        "<|endoftext|>": 4,
        "<|startoftranscript|>": 5,
        "<|translate|>": 6,
        "<|transcribe|>": 7,
        "<|notimestamps|>": 8,
    }
    return {
        "vocabulary": vocabulary,
        "merges": ["a b"],
        "special_tokens": special_tokens,
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"vocabulary": None}, "needs `vocabulary`.*from_preset"),
        ({"merges": None}, "needs `merges`"),
        ({"special_tokens": None}, "needs `special_tokens`"),
        (
            {"special_tokens": {"<|endoftext|>": 4}},
            r"lacks \['<\|startoftranscript\|>'",
        ),
        ({"merges": ["a c"]}, "Merge rule 'a c'"),
        ({"language_tokens": {}}, "`language_tokens` is empty"),
        ({"language_tokens": {"<|en|>": 2}}, r"'ab' and '<\|en\|>' share id 2"),
        (
            {"unsplittable_tokens": ["<|xx|>"]},
            r"\['<\|xx\|>'\] are not in the vocabulary",
        ),
        ({"dtype": "string"}, "integer ids; dtype 'string'"),
        ({"vocabulary": ["a"]}, "`vocabulary` must be a dict"),
    ],
)
def test_bad_arguments_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        WhisperTokenizer(**{**small_tokenizer_arguments(), **change})


def test_merges_file_header_is_skipped_and_kept(tmp_path):
    merges = tmp_path / "merges.txt"
    merges.write_text("#version: 0.2\na b\n")
    arguments = {**small_tokenizer_arguments(), "merges": str(merges)}
    tokenizer = WhisperTokenizer(**arguments)
    assert tokenizer("ab ab") == [2, 3, 2]
    assert tokenizer.merges == ["#version: 0.2", "a b"]


def test_get_config_round_trip(multilingual):
    config = multilingual.get_config()
    restored = WhisperTokenizer.from_config(config)
    assert restored.get_config() == config
    assert restored(PARITY_TEXTS) == multilingual(PARITY_TEXTS)
    assert set(config) == {
        "vocabulary",
        "merges",
        "special_tokens",
        "language_tokens",
        "sequence_length",
        "add_prefix_space",
        "unsplittable_tokens",
        "config_file",
        "name",
        "trainable",
        "dtype",
    }


def test_keras_serialization_round_trip():
    tokenizer = WhisperTokenizer(**small_tokenizer_arguments(), sequence_length=3)
    assert keras.saving.get_registered_name(WhisperTokenizer) == "whisper>WhisperTokenizer"
    serialized = keras.saving.serialize_keras_object(tokenizer)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is WhisperTokenizer
    assert restored("ab") == tokenizer("ab") == [2, 4, 4]


def test_docstring_example_runs():
    results = doctest.testmod(whisper_tokenizer_module)
    assert results.attempted > 0 and results.failed == 0


# --- Hugging Face tokenizer.json ----------------------------------------------


def test_from_tokenizer_json_english(english_tokenizer_json_path, english, hugging_face):
    tokenizer = WhisperTokenizer.from_tokenizer_json(english_tokenizer_json_path)
    # The file lists language tokens, but its ids are English-only's.
    assert not tokenizer.is_multilingual
    assert tokenizer.language_tokens is None
    assert tokenizer.eos_token_id == tokenizer.pad_token_id == 50256
    assert tokenizer.bos_token_id == 50257
    assert tokenizer.translate_token_id == 50357
    assert tokenizer.transcribe_token_id == 50358
    assert tokenizer.no_timestamps_token_id == 50362
    assert tokenizer.token_to_id("<|nocaptions|>") == 50361
    assert "<|en|>" not in tokenizer.special_tokens
    assert tokenizer(PARITY_TEXTS) == english(PARITY_TEXTS)
    assert tokenizer(WORD_SPLIT_TEXTS) == [
        e.ids for e in hugging_face.encode_batch(WORD_SPLIT_TEXTS)
    ]
    # Accepts the directory that holds the file.
    folder = os.path.dirname(english_tokenizer_json_path)
    assert WhisperTokenizer.from_tokenizer_json(folder).get_config() == tokenizer.get_config()


def test_from_tokenizer_json_multilingual(multilingual_tokenizer_json_path, multilingual):
    tokenizer = WhisperTokenizer.from_tokenizer_json(multilingual_tokenizer_json_path)
    assert tokenizer.is_multilingual
    assert tokenizer.language_tokens == multilingual.language_tokens
    assert tokenizer.eos_token_id == 50257
    prompt = tokenizer.decoder_prompt_ids(language="fr")
    assert prompt == [50258, 50265, 50359, 50363]
    assert tokenizer(PARITY_TEXTS) == multilingual(PARITY_TEXTS)


def test_from_tokenizer_json_multilingual_can_be_forced(
    english_tokenizer_json_path, multilingual_tokenizer_json_path
):
    forced = WhisperTokenizer.from_tokenizer_json(english_tokenizer_json_path, multilingual=True)
    assert forced.language_token_id("en") == 50258
    english_only = WhisperTokenizer.from_tokenizer_json(
        multilingual_tokenizer_json_path, multilingual=False
    )
    assert not english_only.is_multilingual


def test_from_tokenizer_json_refuses_other_files(tmp_path):
    preset_tokenizer = tmp_path / "tokenizer.json"
    preset_tokenizer.write_text(json.dumps({"config": {}}))
    with pytest.raises(ValueError, match="not a Hugging Face tokenizer.json.*from_preset"):
        WhisperTokenizer.from_tokenizer_json(str(preset_tokenizer))


# --- Presets ------------------------------------------------------------------


def read_preset(preset_dir):
    files = {}
    for root, _, names in os.walk(preset_dir):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as file:
                files[os.path.relpath(path, preset_dir)] = file.read()
    return files


def test_save_to_preset_writes_the_files_keras_hub_writes(english, english_oracle, tmp_path):
    english.save_to_preset(str(tmp_path / "ours"))
    english_oracle.save_to_preset(str(tmp_path / "theirs"))
    ours = read_preset(tmp_path / "ours")
    assert set(ours) == {
        "tokenizer.json",
        os.path.join("assets", "tokenizer", "vocabulary.json"),
        os.path.join("assets", "tokenizer", "merges.txt"),
    }
    assert ours == read_preset(tmp_path / "theirs")


def test_multilingual_preset_lists_language_tokens_as_unsplittable(
    multilingual, multilingual_oracle, tmp_path
):
    multilingual.save_to_preset(str(tmp_path / "ours"))
    multilingual_oracle.save_to_preset(str(tmp_path / "theirs"))
    ours = read_preset(tmp_path / "ours")
    theirs = read_preset(tmp_path / "theirs")
    config = json.loads(ours.pop("tokenizer.json"))
    their_config = json.loads(theirs.pop("tokenizer.json"))
    assert ours == theirs
    # The vocabulary is saved as given, without special or language tokens.
    vocabulary = json.loads(ours[os.path.join("assets", "tokenizer", "vocabulary.json")])
    assert "<|endoftext|>" not in vocabulary and "<|en|>" not in vocabulary
    languages = list(multilingual.language_tokens)
    assert config["config"].pop("unsplittable_tokens") == multilingual.special_tokens + languages
    assert their_config["config"].pop("unsplittable_tokens") == multilingual.special_tokens
    assert config == their_config


@pytest.mark.parametrize("name", ["english", "multilingual"])
def test_keras_hub_loads_our_preset(request, name, keras_hub, keras_hub_preset_dir):
    ours = request.getfixturevalue(name)
    ours.save_to_preset(keras_hub_preset_dir)
    theirs = keras_hub.models.WhisperTokenizer.from_preset(keras_hub_preset_dir)
    assert type(theirs).__module__.startswith("keras_hub")
    texts = PARITY_TEXTS + [LANGUAGE_TOKEN_TEXT]
    assert keras_hub_ids(theirs, texts) == ours(texts)


@pytest.mark.parametrize("name", ["english", "multilingual"])
def test_we_load_keras_hubs_preset(request, name, tmp_path):
    theirs = request.getfixturevalue(f"{name}_oracle")
    theirs.save_to_preset(str(tmp_path))
    ours = WhisperTokenizer.from_preset(tmp_path)
    assert type(ours) is WhisperTokenizer
    texts = PARITY_TEXTS + [LANGUAGE_TOKEN_TEXT]
    assert ours(texts) == keras_hub_ids(theirs, texts)
    assert ours.special_tokens == theirs.special_tokens
    assert ours.language_tokens == theirs.language_tokens


def test_preset_round_trip_with_overrides_and_our_registered_name(english, tmp_path):
    english.save_to_preset(tmp_path)
    path = tmp_path / preset_io.TOKENIZER_CONFIG_FILE
    data = json.loads(path.read_text())
    data["registered_name"] = "whisper>WhisperTokenizer"
    path.write_text(json.dumps(data))
    restored = WhisperTokenizer.from_preset(str(tmp_path), sequence_length=3)
    assert restored("Hello world.") == [15496, 995, 13]
    assert restored("Hi") == [17250, 50256, 50256]
    restored.save_to_preset(tmp_path)  # Over an existing preset.
    assert not [name for name in read_preset(tmp_path) if name.endswith(".tmp")]


@pytest.mark.parametrize("missing", ["vocabulary.json", "merges.txt"])
def test_missing_asset_is_named(english, tmp_path, missing):
    english.save_to_preset(tmp_path)
    os.remove(tmp_path / "assets" / "tokenizer" / missing)
    with pytest.raises(preset_io.PresetError, match=f"lacks the tokenizer asset .*{missing}"):
        WhisperTokenizer.from_preset(tmp_path)


def test_from_preset_refuses_missing_files_other_classes_and_downloads(
    tmp_path,
):
    with pytest.raises(preset_io.PresetError, match="tokenizer.json' does not exist"):
        WhisperTokenizer.from_preset(tmp_path)
    path = tmp_path / preset_io.TOKENIZER_CONFIG_FILE
    path.write_text(json.dumps({"registered_name": "keras_hub>Other", "config": {}}))
    with pytest.raises(preset_io.PresetError, match="keras_hub>Other"):
        WhisperTokenizer.from_preset(tmp_path)
    with pytest.raises(preset_handles.PresetDownloadError, match="disabled"):
        WhisperTokenizer.from_preset("whisper_tiny_en")
    with pytest.raises(preset_io.PresetError, match="whisper_tiny_en"):
        WhisperTokenizer.from_preset("no_such_preset")
