"""The code examples in README.md and in every docstring of the project run as written."""

import importlib
import inspect
import pathlib
import pkgutil
import re

import pytest

import benchmarks
import data_pipelines
import launch
import train
import whisper

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = (whisper, data_pipelines, train, launch, benchmarks)
CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
# Examples that name files a user would pass (`/path/to/preset`) show usage
# only; every other example runs.
PLACEHOLDER = "/path/to"


def project_modules():
    for package in PACKAGES:
        yield package
        for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            yield importlib.import_module(module_info.name)


def docstring_examples():
    for module in project_modules():
        for owner, doc in _docs(module):
            for index, code in enumerate(CODE_BLOCK.findall(doc)):
                if PLACEHOLDER not in code:
                    yield pytest.param(code, id=f"{module.__name__}.{owner}[{index}]")


def _docs(module):
    yield "module", inspect.getdoc(module) or ""
    for name, value in vars(module).items():
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            yield name, inspect.getdoc(value) or ""
        elif inspect.isclass(value):
            yield name, inspect.getdoc(value) or ""
            for member_name, member in vars(value).items():
                function = getattr(member, "__func__", member)
                if callable(function) and function.__doc__:
                    yield f"{name}.{member_name}", inspect.getdoc(function)


def readme_examples():
    text = (ROOT / "README.md").read_text()
    return [
        pytest.param(code, id=f"README[{i}]") for i, code in enumerate(CODE_BLOCK.findall(text))
    ]


@pytest.fixture
def in_scratch_directory(tmp_path, monkeypatch):
    # Examples write next to where they run and read tests/data/.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").symlink_to(ROOT / "tests")


@pytest.mark.parametrize("code", list(docstring_examples()))
def test_docstring_example_runs(code, in_scratch_directory):
    exec(compile(code, "<docstring example>", "exec"), {})


@pytest.mark.parametrize("code", readme_examples())
def test_readme_example_runs(code, in_scratch_directory):
    exec(compile(code, "<README example>", "exec"), {})
