"""The one way to find and load the champion model: the API's serving champion, ``creditwatch score`` and
``explain``, and re-scoring after a decision all go through these functions.

Looking never creates a registry: a SQLite tracking store that does not exist yet means "no model yet".
"""

from __future__ import annotations

from typing import Any

__all__ = ["NoChampion", "champion_version", "load_champion", "load_version", "missing_reason"]


class NoChampion(LookupError):
    """There is no champion to load (no registry yet, or no version carries the ``champion`` alias)."""


def missing_reason(uri: str) -> str:
    """Why there is no champion in the registry at ``uri`` (for when :func:`champion_version` gave None)."""
    from training.registry import exists

    if not exists(uri):
        return f"no champion model: no model registry at {uri} yet (train and promote a model first)"
    return "no champion model registered: `creditwatch train`, then `creditwatch models promote VERSION`"


def champion_version(uri: str) -> str | None:
    """The version the registry's ``champion`` alias points at, or None (no registry, no champion)."""
    from training.registry import Registry, exists

    if not exists(uri):
        return None
    return Registry(uri).champion()


def load_version(uri: str, version: str) -> Any:
    """The RiskModel of a registered ``version``, loaded from the registry's artifacts (offline)."""
    from training.registry import Registry

    return Registry(uri).load(version)


def load_champion(uri: str) -> tuple[Any, str]:
    """(model, version) of the champion; :class:`NoChampion` with the reason if there is none."""
    version = champion_version(uri)
    if version is None:
        raise NoChampion(missing_reason(uri))
    return load_version(uri, version), version
