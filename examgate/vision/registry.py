"""A tiny name -> factory registry, so a new detector or embedder is one new file."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from examgate.vision.errors import UnknownModelError

T = TypeVar("T")


class Registry(Generic[T]):
    """Factories by name for one kind of model (``detector``, ``embedder``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register a class or factory under ``name``."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return add

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._factories)

    def create(self, name: str, context: Mapping[str, Any] | None = None, **options: Any) -> T:
        """Build the model registered as ``name`` with constructor ``options``.

        ``context`` holds optional arguments (a cache folder, say) that are
        passed only to factories whose signature names them.
        """
        try:
            factory = self._factories[name]
        except KeyError:
            raise UnknownModelError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}"
            ) from None
        if context:
            accepted = inspect.signature(factory).parameters
            options = {**{k: v for k, v in context.items() if k in accepted}, **options}
        return factory(**options)
