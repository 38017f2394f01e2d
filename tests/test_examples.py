"""The code examples in README.md and in docstrings run as written."""

import importlib
import inspect
import pathlib
import pkgutil
import re

import pytest

import whisper

ROOT = pathlib.Path(__file__).resolve().parents[1]
CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def docstring_examples():
    for module_info in pkgutil.iter_modules(whisper.__path__):
        module = importlib.import_module(f"whisper.{module_info.name}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                for owner, doc in _docs(value):
                    for index, code in enumerate(CODE_BLOCK.findall(doc)):
                        if "/path/to" not in code:  # placeholders for user files
                            yield pytest.param(code, id=f"{name}.{owner}[{index}]")


def _docs(cls):
    yield "class", inspect.getdoc(cls) or ""
    for name, member in vars(cls).items():
        function = getattr(member, "__func__", member)
        if callable(function) and function.__doc__:
            yield name, inspect.getdoc(function)


def readme_examples():
    text = (ROOT / "README.md").read_text()
    return [pytest.param(code, id=f"README[{i}]") for i, code in enumerate(CODE_BLOCK.findall(text))]


@pytest.mark.parametrize("code", list(docstring_examples()))
def test_docstring_example_runs(code):
    exec(compile(code, "<docstring example>", "exec"), {})


@pytest.mark.parametrize("code", readme_examples())
def test_readme_example_runs(code, tmp_path, monkeypatch):
    # Examples write next to where they run and read tests/data/.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    exec(compile(code, "<README example>", "exec"), {})
