"""The catalogue's value types: registers, variables, code lists, codes, change events.

All are frozen: the catalogue is read once and shared, never edited in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mikrodata.toolkit.errors import CatalogueError

__all__ = ["ChangeEvent", "Code", "CodeList", "Reference", "Register", "Variable"]


@dataclass(frozen=True)
class Reference:
    """A source a fact comes from, with how sure we are (V read, S secondary, U unchecked)."""

    id: str
    title: str
    confidence: str
    url: str | None = None
    note: str | None = None


def _overlaps(first: int, last: int | None, year: int) -> bool:
    return first <= year and (last is None or year <= last)


@dataclass(frozen=True)
class Code:
    """One code of a code list and the years it is valid (``last_year`` None: still valid)."""

    code: str
    label_sv: str
    label_en: str
    first_year: int
    last_year: int | None
    sources: tuple[str, ...] = ()
    group: str | None = None  # harmonised group across revisions, e.g. "unemployment"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def valid_in(self, year: int) -> bool:
        return _overlaps(self.first_year, self.last_year, year)


@dataclass(frozen=True)
class CodeList:
    """The codes a variable may take. ``provisional`` marks codes not from an official table."""

    codes: tuple[Code, ...]
    provisional: bool
    sources: tuple[str, ...]
    note: str | None = None
    ref: str | None = None  # name of a shared code list under codelists/

    def valid_in(self, year: int) -> tuple[Code, ...]:
        return tuple(c for c in self.codes if c.valid_in(year))

    def get(self, code: str) -> Code | None:
        for c in self.codes:
            if c.code == code:
                return c
        return None


@dataclass(frozen=True)
class ChangeEvent:
    """One documented change in a register's history.

    ``kind`` is one of ``variable_introduced``, ``variable_retired``, ``code_added``,
    ``code_retired`` (derived from the years in the catalogue) or ``documented`` (a
    change written down in a ``changes`` entry, e.g. a revision or a reporting rule).
    A retirement carries the first year the variable or code no longer exists.
    """

    year: int
    register: str
    kind: str
    description: str
    variable: str | None = None
    code: str | None = None
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variable:
    """One register variable, as the catalogue documents it."""

    name: str
    label_sv: str
    label_en: str
    type: str
    identifier_class: str
    first_year: int
    last_year: int | None
    sources: tuple[str, ...]
    unit: str | None = None
    description: str | None = None
    identifier_domain: str | None = None
    pseudonym: str | None = None  # a direct identifier's column name in an extract
    level: str | None = None
    nullable: bool = False
    applies_to: tuple[str, tuple[str, ...]] | None = None
    applies_in: str | None = None  # "spell_end": only in the month a spell ends
    min: float | None = None
    max: float | None = None
    codes: CodeList | None = None
    changes: tuple[ChangeEvent, ...] = ()

    def exists_in(self, year: int) -> bool:
        return _overlaps(self.first_year, self.last_year, year)

    def codes_in(self, year: int) -> tuple[Code, ...]:
        """The codes valid in ``year`` (empty when the variable has no code list or
        does not exist that year)."""
        if self.codes is None or not self.exists_in(year):
            return ()
        return self.codes.valid_in(year)

    @property
    def is_direct_identifier(self) -> bool:
        return self.identifier_class == "direct_identifier"

    @property
    def extract_name(self) -> str:
        """The variable's column name in a project extract: its pseudonym column for a
        direct identifier (``personnummer`` -> ``lopnr``), else its own name."""
        return self.pseudonym if self.is_direct_identifier and self.pseudonym else self.name


@dataclass(frozen=True)
class Register:
    """A register's catalogue: its variables and their history."""

    name: str
    version: str
    label_sv: str
    label_en: str
    holder: str
    record: str
    first_year: int
    last_year: int | None
    key: tuple[str, ...]
    period: tuple[str, ...]
    variables: tuple[Variable, ...]
    references: dict[str, Reference] = field(compare=False, hash=False)
    changes: tuple[ChangeEvent, ...] = ()
    description: str | None = None
    missing_years: dict[int, str] = field(default_factory=dict, compare=False, hash=False)
    path: str | None = field(default=None, compare=False)
    sha256: str | None = field(default=None, compare=False)

    def variable(self, name: str) -> Variable:
        """The variable called ``name``; a :class:`CatalogueError` names the register."""
        for v in self.variables:
            if v.name == name:
                return v
        raise CatalogueError(
            f"register {self.name!r} has no variable {name!r}",
            f"Use one of: {', '.join(v.name for v in self.variables)}",
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def covers(self, year: int) -> bool:
        """Whether the register holds data for ``year``: inside its years and not one of
        its ``missing_years`` (a year with no delivery at all)."""
        inside = self.first_year <= year and (self.last_year is None or year <= self.last_year)
        return inside and year not in self.missing_years

    def variable_by_extract_name(self, name: str) -> Variable:
        """The variable whose extract column is ``name`` (``lopnr`` -> personnummer)."""
        for v in self.variables:
            if v.extract_name == name:
                return v
        return self.variable(name)

    def variables_in(self, year: int) -> tuple[Variable, ...]:
        """The variables that exist in ``year``."""
        return tuple(v for v in self.variables if v.exists_in(year))

    def codes_in(self, variable: str, year: int) -> tuple[Code, ...]:
        """The codes of ``variable`` valid in ``year``."""
        return self.variable(variable).codes_in(year)

    def direct_identifiers(self) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.is_direct_identifier)

    def history(self) -> tuple[ChangeEvent, ...]:
        """Every change event, oldest first: introductions and retirements of variables
        and codes (derived from their years) and the documented changes."""
        events: list[ChangeEvent] = list(self.changes)
        for v in self.variables:
            if v.first_year > self.first_year:
                events.append(
                    ChangeEvent(
                        v.first_year,
                        self.name,
                        "variable_introduced",
                        f"{v.name} ({v.label_en}) introduced",
                        variable=v.name,
                        sources=v.sources,
                    )
                )
            if v.last_year is not None and (self.last_year is None or v.last_year < self.last_year):
                events.append(
                    ChangeEvent(
                        v.last_year + 1,
                        self.name,
                        "variable_retired",
                        f"{v.name} ({v.label_en}) retired; last year {v.last_year}",
                        variable=v.name,
                        sources=v.sources,
                    )
                )
            events.extend(v.changes)
            if v.codes is None or v.codes.ref is not None:
                continue
            for c in v.codes.codes:
                sources = c.sources or v.codes.sources
                if c.first_year > v.first_year:
                    events.append(
                        ChangeEvent(
                            c.first_year,
                            self.name,
                            "code_added",
                            f"{v.name}: code {c.code} ({c.label_en}) added",
                            variable=v.name,
                            code=c.code,
                            sources=sources,
                        )
                    )
                if c.last_year is not None and (v.last_year is None or c.last_year < v.last_year):
                    events.append(
                        ChangeEvent(
                            c.last_year + 1,
                            self.name,
                            "code_retired",
                            f"{v.name}: code {c.code} ({c.label_en}) retired; "
                            f"last year {c.last_year}",
                            variable=v.name,
                            code=c.code,
                            sources=sources,
                        )
                    )
        order = {
            "documented": 0,
            "variable_introduced": 1,
            "variable_retired": 2,
            "code_added": 3,
            "code_retired": 4,
        }
        return tuple(
            sorted(
                events,
                key=lambda e: (e.year, e.variable or "", order[e.kind], e.code or ""),
            )
        )
