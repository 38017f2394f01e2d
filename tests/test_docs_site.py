"""The documentation site builds as docs/development.md shows, with every page
in its navigation and the API pages rendered from the docstrings."""

import re
import shlex
import subprocess
import sys

from doc_commands import DOCS
from doc_commands import docs_lines
from train_cli import ROOT

import whisper

API_PAGES = {path: text for path, text in DOCS.items() if path.startswith("docs/api/")}
# mkdocstrings' directive: `::: package.module.Name` renders that object.
DIRECTIVE = re.compile(r"^::: (\S+)$", re.MULTILINE)


def test_every_page_is_in_the_navigation():
    # The tests read the pages the navigation lists (doc_commands.DOCS): a
    # page left out of it would show commands that nothing runs.
    pages = {path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").rglob("*.md")}
    assert pages == set(DOCS) - {"README.md"}


def test_the_api_pages_document_the_model_librarys_classes():
    documented = {name for text in API_PAGES.values() for name in DIRECTIVE.findall(text)}
    for name in whisper.__all__:
        assert f"{getattr(whisper, name).__module__}.{name}" in documented


def test_the_site_builds_strictly_with_the_api_from_docstrings(tmp_path):
    [command] = [line for line in docs_lines() if line.startswith("mkdocs build")]
    assert "--strict" in command
    site = tmp_path / "site"
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", *shlex.split(command)[1:], "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    # The home page is the README's overview, included by pymdownx.snippets.
    assert "Fine-tune on your manifest" in (site / "index.html").read_text(encoding="utf-8")
    for path, text in API_PAGES.items():
        page = site / path.removeprefix("docs/").removesuffix(".md") / "index.html"
        html = page.read_text(encoding="utf-8")
        for name in DIRECTIVE.findall(text):
            assert f'id="{name}"' in html, (path, name)
