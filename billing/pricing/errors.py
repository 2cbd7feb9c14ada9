"""Errors of the pricing engine: every one names the field it is about, in `a.b[2].c` path style."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["DocumentError", "FieldError", "PricingError", "join_path", "path_sort_key"]


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PricingError(ValueError):
    """Invalid prices or inputs. `errors` lists every problem found, each with its field path."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("a PricingError needs at least one FieldError")
        self.errors: list[FieldError] = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    @classmethod
    def single(cls, path: str, message: str) -> PricingError:
        return cls([FieldError(path, message)])


class DocumentError(PricingError):
    """An invalid profile document; `str()` lists every error, one per line."""


def join_path(base: str, part: str | int) -> str:
    """`join_path("prices", 2)` -> `prices[2]`; `join_path("prices[2]", "tiers")` -> `prices[2].tiers`;
    an empty base (the document root) gives the bare part."""
    if isinstance(part, int):
        return f"{base}[{part}]" if base else f"[{part}]"
    return f"{base}.{part}" if base else part


_TOKEN = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def path_sort_key(path: str) -> tuple[tuple[int, int, str], ...]:
    """Orders paths naturally (`tiers[2]` before `tiers[10]`), for deterministic error lists."""
    key: list[tuple[int, int, str]] = []
    for index, name in _TOKEN.findall(path):
        key.append((0, int(index), "") if index else (1, 0, name))
    return tuple(key)


def sorted_errors(errors: Iterable[FieldError]) -> list[FieldError]:
    unique = dict.fromkeys(errors)
    return sorted(unique, key=lambda e: (path_sort_key(e.path), e.message))
