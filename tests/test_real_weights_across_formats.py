"""The real tiny.en weights give the same tokens through every format.

OpenAI's tiny.en as shipped in CTranslate2 format is imported, exported by us
as a Hugging Face transformers checkpoint, and decoded three ways: by our model
from the CTranslate2 directory, by our model from the exported checkpoint, and
by transformers itself from the exported checkpoint.
"""

import numpy as np
import pytest

from whisper.audio_io import load_audio
from whisper.whisper_audio_to_text import WhisperAudioToText

MAX_LENGTH = 40


@pytest.fixture(scope="module")
def features(tiny_en, speech_clips):
    clips = [load_audio(path) for path, _ in speech_clips[:4]]
    longest = max(len(clip) for clip in clips)
    batch = np.stack([np.pad(clip, (0, longest - len(clip))) for clip in clips])
    return np.asarray(tiny_en.audio_converter(batch))


@pytest.fixture(scope="module")
def exported_dir(tiny_en, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tiny_en_transformers"))
    tiny_en.save_to_transformers(path)
    return path


@pytest.mark.slow
def test_ctranslate2_and_our_transformers_export_give_the_same_tokens(
    tiny_en, exported_dir, features
):
    reimported = WhisperAudioToText.from_preset(exported_dir)
    expected = tiny_en.generate_token_ids(features, max_length=MAX_LENGTH)
    got = reimported.generate_token_ids(features, max_length=MAX_LENGTH)
    np.testing.assert_array_equal(got, expected)
    # Real text came out, not just end of text.
    assert (expected[:, 2] != tiny_en.end_of_text_id()).all()


@pytest.mark.slow
def test_transformers_decodes_our_export_to_the_same_tokens(tiny_en, exported_dir, features):
    import torch
    import transformers

    reference = transformers.WhisperForConditionalGeneration.from_pretrained(exported_dir)
    reference.eval()
    with torch.no_grad():
        sequences = reference.generate(
            torch.from_numpy(features.transpose(0, 2, 1).copy()),
            max_new_tokens=MAX_LENGTH - 2,
        ).numpy()
    ours = tiny_en.generate_token_ids(features, max_length=MAX_LENGTH)
    prompt = tiny_en.decoder_prompt_ids()
    assert prompt == [50257, 50362]
    end = tiny_en.end_of_text_id()
    assert [text_tokens(row, prompt, end) for row in sequences] == [
        text_tokens(row, prompt, end) for row in ours
    ]


def text_tokens(row, prompt, end_of_text):
    """The tokens between the prompt (if the row holds it) and end of text."""
    row = list(row)
    if row[: len(prompt)] == prompt:
        row = row[len(prompt) :]
    return row[: row.index(end_of_text)] if end_of_text in row else row
