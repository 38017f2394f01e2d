"""The model and trainer tests on TensorFlow 2.20, the newest release Cloud TPU VMs install.

pyproject.toml allows TensorFlow 2.20 and 2.21; the rest of the suite runs on CI's pin
(constraints/ci.txt). This test builds a virtual environment that sees the packages of
the Python running it (a virtual environment's or the system's), installs
constraints/tf-2.20.txt into it (TensorFlow and the tensorboard that release requires,
nothing else), and runs the model and trainer test modules there. The environment is
kept under ~/.cache/whisper-keras/, named by a hash of those pins and this Python, and
rebuilt when it is missing, half built or stale:

    python -m pytest tests/test_tensorflow_versions.py
"""

import fcntl
import hashlib
import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import site
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PINS_FILE = ROOT / "constraints" / "tf-2.20.txt"
# The modules whose tests run TensorFlow's own kernels and graphs: features
# (tf.signal), the backbone, XLA generation, the distributed train step and
# TensorFlow checkpoints. Pure-Python and Keras-only modules (tokenizer,
# config, optimizer) gain nothing from a second TensorFlow. Their slow tests
# are left to the main run.
TEST_MODULES = [
    "tests/test_whisper_audio_converter.py",
    "tests/test_whisper_audio_to_text.py",
    "tests/test_whisper_backbone.py",
    "tests/test_train_step.py",
    "tests/test_train_strategy.py",
    "tests/test_checkpoints.py",
]
# keras-hub, the test oracle, is installed with --no-deps on purpose (docs/development.md), so
# pip check always names the two packages it declares and does not need.
# The test-only peers installed with --no-deps (docs/development.md): keras-hub without
# tensorflow-text, faster-whisper without onnxruntime (only its VAD needs it).
KNOWN_PIP_CHECK_LINE = re.compile(
    r"^(keras-hub \S+ requires (sentencepiece|tensorflow-text)"
    r"|faster-whisper \S+ requires onnxruntime),"
)
VERSIONS_SCRIPT = (
    "import json, tensorflow, tensorboard, keras; print(json.dumps({"
    "'tensorflow': tensorflow.__version__, 'tensorflow_file': tensorflow.__file__, "
    "'tensorboard': tensorboard.__version__, 'keras': keras.__version__}))"
)


def pins():
    lines = PINS_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def environment_directory(requirements):
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
    # A new Python or new pins get a new environment; the old one is never patched.
    key = hashlib.sha256(json.dumps([sys.version, sys.prefix, requirements]).encode())
    return cache / "whisper-keras" / f"tf-2.20-{key.hexdigest()[:12]}"


def run(command, timeout):
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def is_complete(directory, requirements):
    marker = directory / "pins.json"
    if not marker.is_file() or json.loads(marker.read_text()) != requirements:
        return False
    return run([str(directory / "bin" / "python"), "-c", "import tensorflow"], 120).returncode == 0


def build(directory, requirements):
    shutil.rmtree(directory, ignore_errors=True)
    created = run([sys.executable, "-m", "venv", "--without-pip", str(directory)], 120)
    assert created.returncode == 0, created.stderr
    # The packages of the Python running the tests, behind the environment's
    # own: its site-packages, in a virtual environment too, where
    # --system-site-packages would give the base interpreter's instead.
    (site_packages(directory) / "outer-packages.pth").write_text("\n".join(site.getsitepackages()))
    # The outer pip, run by the environment's Python, installs into the
    # environment; --no-deps leaves every other package to the outer ones.
    install = ["-m", "pip", "install", "--no-deps", "--disable-pip-version-check", *requirements]
    installed = run([str(directory / "bin" / "python"), *install], 600)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    # Written last, so an interrupted build is rebuilt next time.
    (directory / "pins.json").write_text(json.dumps(requirements))


def site_packages(directory):
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return directory / "lib" / version / "site-packages"


@pytest.fixture(scope="module")
def tf_2_20_python():
    requirements = pins()
    directory = environment_directory(requirements)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once share one build
        if not is_complete(directory, requirements):
            build(directory, requirements)
    return directory / "bin" / "python"


@pytest.mark.slow
def test_the_environment_runs_tensorflow_2_20_over_the_outer_packages(tf_2_20_python):
    versions = run([str(tf_2_20_python), "-c", VERSIONS_SCRIPT], 120)
    assert versions.returncode == 0, versions.stderr[-3000:]
    found = json.loads(versions.stdout.splitlines()[-1])
    assert found["tensorflow"].startswith("2.20.") and found["tensorboard"].startswith("2.20.")
    assert pathlib.Path(found["tensorflow_file"]).is_relative_to(tf_2_20_python.parents[1])
    # Keras is the outer one: the same Keras runs on both TensorFlow releases.
    assert found["keras"] == importlib.metadata.version("keras")
    # TensorFlow 2.20's requirements are met by the outer packages, and this
    # project's declared ranges accept it.
    check = run([str(tf_2_20_python), "-m", "pip", "check", "--disable-pip-version-check"], 120)
    complaints = [line for line in check.stdout.splitlines() if line.strip()]
    unexpected = [line for line in complaints if not KNOWN_PIP_CHECK_LINE.match(line)]
    assert unexpected == [], check.stdout


@pytest.mark.slow
@pytest.mark.longest
def test_model_and_trainer_tests_pass_on_tensorflow_2_20(tf_2_20_python):
    pytest_command = [
        "-m",
        "pytest",
        "-x",
        "-q",
        "-m",
        "not slow",
        "-n",
        "0",
        "-p",
        "no:cacheprovider",
    ]
    result = run([str(tf_2_20_python), *pytest_command, *TEST_MODULES], 900)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, summary
