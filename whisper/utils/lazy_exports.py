"""Package names imported on first use, so that importing a package stays cheap.

`import whisper` must not start TensorFlow (configuration is checked before
it does), and `import data_pipelines` must not import `datasets` or
`tensorflow_datasets`; yet `from whisper import WhisperBackbone` should
work. A package lists its public names and their modules, and this makes
the module-level `__getattr__` and `__dir__` (PEP 562) that import them.

Example:

```python
from whisper.utils.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports("mypackage", {"dumps": "json"}, {})
__getattr__("dumps")({"a": 1})  # '{"a": 1}'
```
"""

import importlib


def lazy_exports(package, exports, namespace):
    """`(__getattr__, __dir__)` for `package`, whose `exports` map names to modules.

    Args:
        package: the package's name, for error messages.
        exports: {public name: module that defines it}.
        namespace: the package's `globals()`, listed by `__dir__` too.
    """

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
