"""Back-ends found by name: a lazy registry plus Python entry points.

Built-in back-ends are registered as "module:attribute" strings, so nothing (no vendor SDK) is
imported until a back-end is asked for by name. Third parties add back-ends through the entry-point
group of the registry (e.g. ``[project.entry-points."inspection.cameras"]``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from inspection.errors import ConfigError, MissingDependency

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> factory, resolved lazily. ``kind`` is used in messages ("camera driver")."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._targets: dict[str, str] = {}
        self._extras: dict[str, str] = {}
        self._loaded: dict[str, Callable[..., T]] = {}

    def register(self, name: str, target: str | Callable[..., T], *, extra: str | None = None) -> None:
        """Register ``target`` ("package.module:attr" or a callable) under ``name``.
        ``extra`` names the pip extra that provides the back-end's optional dependencies."""
        if isinstance(target, str):
            if ":" not in target:
                raise ValueError(f"target must look like 'module:attribute', got {target!r}")
            self._targets[name] = target
            self._loaded.pop(name, None)
        else:
            self._loaded[name] = target
        if extra:
            self._extras[name] = extra

    def names(self) -> list[str]:
        """All known names: built-in and installed through entry points."""
        found = set(self._targets) | set(self._loaded)
        found |= {ep.name for ep in entry_points(group=self.group)}
        return sorted(found)

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``; a clear error lists the known names."""
        if name in self._loaded:
            return self._loaded[name]
        target = self._targets.get(name)
        if target is None:
            for ep in entry_points(group=self.group):
                if ep.name == name:
                    target = ep.value
                    break
        if target is None:
            known = ", ".join(self.names()) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}", key=f"unknown_{self.group}")
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module_name
            if module_name == missing or module_name.startswith(missing + "."):
                raise ConfigError(f"the {name!r} {self.kind} module {module_name!r} is not installed",
                                  key=f"missing_{self.group}") from exc
            raise MissingDependency(missing.split(".")[0], extra=self._extras.get(name),
                                    purpose=f"the {name!r} {self.kind}") from exc
        factory = getattr(module, attr)
        self._loaded[name] = factory
        return factory

    def create(self, name: str, *args: object, **kwargs: object) -> T:
        return self.get(name)(*args, **kwargs)
