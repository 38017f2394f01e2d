"""The command lines README.md shows, for the tests that run them."""

import re
import shlex

from train_cli import ROOT

README = (ROOT / "README.md").read_text()
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def readme_lines():
    """Every command line of the README's bash blocks, continuations joined."""
    lines = []
    for block in BASH_BLOCK.findall(README):
        lines += re.sub(r"\s*\\\n\s*", " ", block).splitlines()
    return [line.strip() for line in lines if line.strip()]


def module_arguments(module):
    """The arguments of each README line `python -m MODULE ...`, comments cut."""
    prefix = ["python", "-m", module]
    commands = [shlex.split(line.partition("#")[0]) for line in readme_lines()]
    return [command[3:] for command in commands if command[:3] == prefix]
