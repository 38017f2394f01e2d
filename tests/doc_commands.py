"""The documentation's pages, and the command lines they show, for the tests
that run them: README.md, then every page of the MkDocs site in the order of
its navigation (`mkdocs.yml`)."""

import re
import shlex

import yaml
from train_cli import ROOT


def _nav_pages(entries):
    for entry in entries:
        target = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(target, list):
            yield from _nav_pages(target)
        else:
            yield target


MKDOCS = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
# {path from the repository root: its text}, README.md first.
DOCS = {
    path: (ROOT / path).read_text(encoding="utf-8")
    for path in ["README.md", *(f"docs/{page}" for page in _nav_pages(MKDOCS["nav"]))]
}
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def docs_lines():
    """Every command line of the docs' bash blocks, continuations joined."""
    lines = []
    for text in DOCS.values():
        for block in BASH_BLOCK.findall(text):
            lines += re.sub(r"\s*\\\n\s*", " ", block).splitlines()
    return [line.strip() for line in lines if line.strip()]


def module_arguments(module):
    """The arguments of each docs line `python -m MODULE ...`, comments cut."""
    prefix = ["python", "-m", module]
    commands = [shlex.split(line.partition("#")[0]) for line in docs_lines()]
    return [command[3:] for command in commands if command[:3] == prefix]
