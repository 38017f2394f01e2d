"""The project's modules import one another without cycles, and lazily where promised.

The graph counts every import statement, those inside functions too, so an
import moved into a function to hide a cycle still fails here.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("whisper", "data_pipelines", "train", "benchmarks", "launch")


def project_modules():
    """{module name: path} of every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def lazy_exports(path):
    """A package's `_EXPORTS` (name -> module), which its `__getattr__` imports."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "_EXPORTS" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    return {}


def import_graph():
    """{module: set of project modules it imports}."""
    modules = project_modules()
    exports = {name: lazy_exports(path) for name, path in modules.items()}
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set(exports[name].values())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, name, is_package)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    if submodule in modules:
                        edges.add(submodule)
                    else:
                        edges.add(exports.get(base, {}).get(alias.name, base))
        graph[name] = {edge for edge in edges if edge in modules and edge != name}
    return graph


def _absolute(node, module, is_package):
    if not node.level:
        return node.module
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_whole_project():
    graph = import_graph()
    assert {"whisper.whisper_backbone", "data_pipelines.pipeline", "train.trainer"} <= set(graph)
    assert "whisper.convert.keras_hub_layout" in graph["whisper.convert.keras_hub_weights"]
    # Lazy package exports count as imports of the module that holds them.
    assert "whisper.whisper_audio_to_text" in graph["train.model"]


def test_no_import_cycle_among_the_projects_modules():
    assert cycles(import_graph()) == []


def test_a_cycle_is_found_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "module, absent",
    [
        ("data_pipelines", ("datasets", "tensorflow_datasets", "tensorflow")),
        ("data_pipelines.source_factory", ("datasets", "tensorflow_datasets", "tensorflow")),
        ("whisper", ("keras", "tensorflow")),
        ("whisper.special_tokens", ("keras", "tensorflow")),
        ("whisper.whisper_presets", ("keras", "tensorflow")),
        ("train.config", ("keras", "tensorflow", "datasets", "tensorflow_datasets")),
        # Everything `python -m train` imports before validating the config.
        ("train.__main__", ("keras", "tensorflow", "datasets", "tensorflow_datasets")),
        ("train.validation", ("keras", "tensorflow", "datasets", "tensorflow_datasets")),
        ("data_pipelines.stream_position", ("tensorflow",)),
    ],
)
def test_light_modules_import_no_heavy_library(module, absent):
    code = f"import sys, {module}; print([m for m in {absent!r} if m in sys.modules])"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"
