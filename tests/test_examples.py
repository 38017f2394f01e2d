"""The code examples of the docs (README.md and docs/) and of every docstring of
the project run as written and give the values their comments claim."""

import ast
import importlib
import inspect
import math
import pathlib
import pkgutil
import re

import numpy as np
import pytest
from doc_commands import DOCS

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


def docs_examples():
    return [
        pytest.param(code, id=f"{path}[{i}]")
        for path, text in DOCS.items()
        for i, code in enumerate(CODE_BLOCK.findall(text))
    ]


@pytest.fixture
def in_scratch_directory(tmp_path, monkeypatch):
    # Examples write next to where they run and read tests/data/.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").symlink_to(ROOT / "tests")


@pytest.mark.parametrize("code", list(docstring_examples()))
def test_docstring_example_runs(code, in_scratch_directory):
    run_checking_claims(code, "<docstring example>")


@pytest.mark.parametrize("code", docs_examples())
def test_docs_example_runs(code, in_scratch_directory):
    run_checking_claims(code, "<docs example>")


def run_checking_claims(code, filename):
    """Runs an example; an expression (or a `print` of one) whose line ends
    in `# VALUE` must give VALUE, a Python literal or a call such as
    `dtype('int16')`, optionally followed by `: prose`. Comments that are
    prose alone (`# prints the Job`) claim nothing checkable."""
    lines = code.splitlines()
    claims = ClaimChecks(lines)
    tree = ast.fix_missing_locations(claims.visit(ast.parse(code)))
    namespace = {CHECK_NAME: claims.check}
    exec(compile(tree, filename, "exec"), namespace)
    assert claims.checked == claims.found, "a claimed line never ran"


CHECK_NAME = "__check_claim__"
# Names a claim may call: NumPy's dtype, as NumPy prints it, and the
# example's own classes (looked up where the example ran).
CLAIM_CALLABLES = {"dtype": np.dtype}


class ClaimChecks(ast.NodeTransformer):
    """Wraps each claimed expression statement in a check of its value."""

    def __init__(self, lines):
        self.lines = lines
        self.found = self.checked = 0

    def visit_Expr(self, node):
        comment = trailing_comment(self.lines[node.end_lineno - 1])
        claim = claimed_expression(comment)
        if claim is None:
            return node
        self.found += 1
        call = node.value
        printing = isinstance(call, ast.Call) and getattr(call.func, "id", None) == "print"
        # A printed value is the claim's subject, and the comment may be the
        # printed text itself; the check returns the value, which is printed.
        subject = call.args[0] if printing else call
        arguments = [subject, ast.Constant(claim), ast.Constant(comment if printing else None)]
        arguments.append(ast.Call(ast.Name("globals", ast.Load()), [], []))
        check = ast.Call(ast.Name(CHECK_NAME, ast.Load()), arguments, [])
        if printing:
            call.args[0] = check
        else:
            node.value = check
        return node

    def check(self, actual, claim, printed, namespace):
        self.checked += 1
        if printed is None or str(actual) != printed:
            expected = eval(claim, {**namespace, **CLAIM_CALLABLES})
            assert same(actual, expected), f"{actual!r} where the example says {claim}"
        return actual


def trailing_comment(line):
    """The text after a line's `  # `, or None."""
    return line.split("  # ", 1)[1] if "  # " in line else None


def claimed_expression(comment):
    """The checkable value a trailing comment claims, or None."""
    if comment is None:
        return None
    for cut in sorted(
        {len(comment), *(m.start() for m in re.finditer(r":? ", comment))}, reverse=True
    ):
        text = comment[:cut]
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            continue
        return text if is_value(tree.body) else None
    return None


def is_value(node):
    """A literal, or calls of names with literal arguments; no Ellipsis."""
    if isinstance(node, ast.Constant):
        return node.value is not Ellipsis
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(map(is_value, node.elts))
    if isinstance(node, ast.Dict):
        return all(map(is_value, node.keys)) and all(map(is_value, node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return is_value(node.operand)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
        return all(map(is_value, arguments))
    return False


def same(actual, expected):
    """Equal, floats to six digits, any sequence (a shape, an array) as a tuple."""
    if isinstance(expected, float):
        return math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(expected, (tuple, list)):
        actual = tuple(actual)
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            same(actual[key], value) for key, value in expected.items()
        )
    return actual == expected


@pytest.mark.parametrize(
    "code",
    [
        "x = 2\nx  # 3",
        "x = (0.5, 2)\nx  # (0.5, 3): the second is wrong",
        "print('a b')  # 'a c'",
        "import numpy as np\nnp.zeros(2, 'int16').dtype  # dtype('int32')",
    ],
)
def test_a_wrong_claim_fails_the_example(code):
    with pytest.raises(AssertionError, match="where the example says"):
        run_checking_claims(code, "<claim>")


def test_prose_comments_and_true_claims_pass():
    code = (
        "import numpy as np\nx = [1, 2]\nx  # the list, prose alone\n"
        "x  # [1, 2]: both\nprint('ready.')  # ready.\n"
        "np.zeros((2, 3)).shape  # (2, 3)\n{'a': 0.1 + 0.2}  # {'a': 0.3}\n"
    )
    run_checking_claims(code, "<claim>")
