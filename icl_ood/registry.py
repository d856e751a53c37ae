"""Plug-in registries found by name: function families, baselines and sweeps.

A registry holds the objects its package's modules register (each module imports itself into
it with `register`); the first lookup imports every module of the package and then the user's
plug-ins: $ICL_OOD_PLUGINS, comma-separated module names or .py paths (`icl-ood --plugins`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any


def load_plugins(spec: str | None = None) -> None:
    """Imports plug-in modules: comma-separated module names or .py paths (default
    $ICL_OOD_PLUGINS); each registers its families, baselines or sweeps."""
    for item in filter(None, (s.strip() for s in (spec or os.environ.get("ICL_OOD_PLUGINS", "")
                                                 ).split(","))):
        if not item.endswith(".py"):
            importlib.import_module(item)
            continue
        path = Path(item).resolve()
        if not path.exists():
            raise FileNotFoundError(f"ICL_OOD_PLUGINS: no file {item}")
        name = f"icl_ood_plugin_{path.stem}"
        if name not in sys.modules:
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)


class Registry:
    """Named objects (each with a `name`) of one kind, registered by the modules of `package`."""

    def __init__(self, kind: str, package: str):
        self.kind, self.package, self._items, self._loaded = kind, package, {}, False

    def register(self, item: Any) -> Any:
        """Adds (or replaces, for a reloaded module) `item`; returns it."""
        if not item.name.isidentifier():
            raise ValueError(f"{self.kind} name must be an identifier, got {item.name!r}")
        self._items[item.name] = item
        return item

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            pkg = importlib.import_module(self.package)
            for m in pkgutil.iter_modules(pkg.__path__):
                if not m.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{m.name}")
            load_plugins()

    def all(self) -> dict[str, Any]:
        """Every registered item by name."""
        self._load()
        return dict(self._items)

    def names(self) -> tuple[str, ...]:
        return tuple(self.all())

    def get(self, name: str) -> Any:
        """The item called `name` (ValueError listing the known ones)."""
        items = self.all()
        if name not in items:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(items)}")
        return items[name]
