"""The catalog: models.yaml loaded (the packaged one by default) and looked up by id, dated snapshot or alias."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from importlib import resources
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .model_info import CatalogError, ModelInfo
from .rules import parse_document

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader keeps start-up fast


class Catalog:
    """All models of one catalog file, looked up by id, dated snapshot or alias."""

    __slots__ = ("_index", "_models", "as_of", "source")

    def __init__(self, models: Mapping[str, ModelInfo], *, as_of: str | None = None, source: str = "") -> None:
        self._models = MappingProxyType(dict(models))
        self.as_of = as_of
        self.source = source
        index: dict[str, str] = {}
        for info in self._models.values():
            for name in (info.id, info.snapshot, *info.aliases):
                owner = index.setdefault(name, info.id)
                if owner != info.id:
                    raise CatalogError(
                        f"{source or 'catalog'}: {info.id}: name {name!r} is already used by {owner}"
                    )
        self._index = index

    # -- loading

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Catalog:
        """Parse and validate a models.yaml file; raises CatalogError naming the bad key."""
        path = Path(path)
        source = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{path}: cannot read the model catalog: {exc}") from exc
        return cls.from_yaml(text, source=source)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "models.yaml") -> Catalog:
        try:
            document = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise CatalogError(f"{source}: not valid YAML: {exc}") from exc
        return cls.from_mapping(document, source=source)

    @classmethod
    def from_mapping(cls, document: Any, *, source: str = "models.yaml") -> Catalog:
        models, as_of = parse_document(document, source)
        return cls(models, as_of=as_of, source=source)

    @classmethod
    def default(cls) -> Catalog:
        """The catalog shipped inside the package (config/models.yaml), loaded once per process."""
        return _default_catalog()

    # -- lookups

    def get(self, model_id: str) -> ModelInfo | None:
        """The model for an id, a dated snapshot or an alias; None when unknown."""
        key = self._index.get(model_id)
        return None if key is None else self._models[key]

    def __getitem__(self, model_id: str) -> ModelInfo:
        info = self.get(model_id)
        if info is None:
            raise KeyError(model_id)
        return info

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and model_id in self._index

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def models(self) -> tuple[ModelInfo, ...]:
        """Every model, in file order."""
        return tuple(self._models.values())

    def names(self) -> tuple[str, ...]:
        """Every id that resolves: base ids, snapshots and aliases (what /v1/models may list)."""
        return tuple(self._index)

    def echo_model(self, model_id: str) -> str | None:
        """The `model` value a response carries: a dated name echoes itself, a base id its snapshot."""
        info = self.get(model_id)
        if info is None:
            return None
        return info.snapshot if model_id == info.id else model_id


@functools.lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    resource = resources.files("sentra_openai") / "config" / "models.yaml"
    with resources.as_file(resource) as path:
        return Catalog.load(path)

