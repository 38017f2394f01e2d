"""JSON files: read with errors naming the file, written atomically with the usual mode."""

import os
import stat

import pytest

from whisper.utils.json_io import read_json
from whisper.utils.json_io import write_json


def test_a_written_file_reads_back_with_no_temporary_left(tmp_path):
    path = tmp_path / "settings.json"
    write_json(path, {"language": "en"})
    write_json(path, {"language": "fr"})
    assert read_json(path) == {"language": "fr"}
    assert os.listdir(tmp_path) == ["settings.json"]


def test_a_written_file_has_the_mode_open_would_give(tmp_path):
    write_json(tmp_path / "written.json", {})
    (tmp_path / "opened.json").write_text("{}")
    modes = [
        stat.S_IMODE(os.stat(tmp_path / name).st_mode) for name in ("written.json", "opened.json")
    ]
    assert modes[0] == modes[1]


@pytest.mark.parametrize("content, message", [(None, "does not exist"), ("{", "is not JSON")])
def test_a_bad_file_raises_the_callers_error_naming_it(tmp_path, content, message):
    path = tmp_path / "state.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LookupError, match=f"'{path}' {message}"):
        read_json(path, error=LookupError)
