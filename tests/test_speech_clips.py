"""The committed speech clips are exactly what their script makes."""

import filecmp
import importlib.util
import os

from conftest import SPEECH_DIR

SCRIPT = os.path.join(os.path.dirname(__file__), "data", "make_speech_clips.py")


def test_script_reproduces_the_committed_clips(tmp_path):
    spec = importlib.util.spec_from_file_location("make_speech_clips", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(str(tmp_path))
    committed = sorted(os.listdir(SPEECH_DIR))
    assert sorted(os.listdir(tmp_path)) == committed
    _, mismatch, errors = filecmp.cmpfiles(SPEECH_DIR, tmp_path, committed, shallow=False)
    assert (mismatch, errors) == ([], [])
    assert sum(os.path.getsize(os.path.join(SPEECH_DIR, f)) for f in committed) < 2**21
