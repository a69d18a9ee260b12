"""Loading and validating catalogue files.

A catalogue file is validated against the JSON Schema in ``_schema.py``, then against
the rules that relate fields to each other. Any problem raises a
:class:`~toolkit.errors.CatalogueError` naming the file, the variable and the field.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

from mikrodata.toolkit.errors import CatalogueError
from mikrodata.toolkit.jsonschemas import best_match, validator

from ._model import ChangeEvent, Code, CodeList, Reference, Register, Variable
from ._schema import CODELIST_SCHEMA, REGISTER_SCHEMA

__all__ = ["CATALOGUE_DIR", "catalogue_version", "load", "load_file", "registers"]

# The C loader where PyYAML has libyaml (several times faster: the catalogue is read on
# every command); its safe subset either way.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CATALOGUE_DIR = Path(__file__).parent
CODELIST_DIR = CATALOGUE_DIR / "codelists"


def _where(path: Path, doc: Any, location: list[Any]) -> str:
    """Turn a JSON path into 'file, variable V, field F' words."""
    parts = [f"{path.name}"]
    loc = list(location)
    if len(loc) >= 2 and loc[0] == "variables" and isinstance(loc[1], int):
        try:
            name = doc["variables"][loc[1]].get("name", f"#{loc[1] + 1}")
        except (AttributeError, IndexError, KeyError, TypeError):
            name = f"#{loc[1] + 1}"
        parts.append(f"variable {name!r}")
        loc = loc[2:]
    if loc:
        parts.append("field " + ".".join(str(x) for x in loc))
    return ", ".join(parts)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueError(
            f"catalogue file {path} does not exist", "Check the register name"
        ) from None
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise CatalogueError(
            f"{path.name}: not valid YAML{at}", "Fix the YAML syntax of the file"
        ) from None


def _validate(path: Path, doc: Any, schema: dict[str, Any]) -> None:
    errors = sorted(validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = best_match(errors)
    location = list(err.absolute_path)
    # A missing required property is reported on its parent; name the missing field.
    if err.validator == "required":
        missing = [p for p in err.validator_value if p not in (err.instance or {})]
        if missing:
            location.append(missing[0])
        message = "is required but missing"
    elif err.validator == "additionalProperties":
        message = f"unknown field ({err.message.split('(')[-1].rstrip(')')})"
    else:
        message = err.message
    raise CatalogueError(
        f"{_where(path, doc, location)}: {message}",
        "Fix the catalogue file; see quality/catalogue/README.md for the fields",
    )


def _fail(path: Path, where: str, message: str) -> CatalogueError:
    return CatalogueError(
        f"{path.name}, {where}: {message}",
        "Fix the catalogue file; see quality/catalogue/README.md for the fields",
    )


@functools.cache
def _codelist(name: str) -> tuple[CodeList, tuple[str, ...]]:
    """A shared code list (codelists/<name>.yaml + its CSV) and its reference ids."""
    path = CODELIST_DIR / f"{name}.yaml"
    doc = _read_yaml(path)
    _validate(path, doc, CODELIST_SCHEMA)
    csv_path = CODELIST_DIR / doc["file"]
    codes = []
    extra_cols = tuple(doc.get("extra_columns", {}))
    with open(csv_path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            codes.append(
                Code(
                    code=row["code"],
                    label_sv=row["label_sv"],
                    label_en=row["label_en"],
                    first_year=int(row["first_year"]) if row.get("first_year") else 0,
                    last_year=int(row["last_year"]) if row.get("last_year") else None,
                    sources=tuple(doc["sources"]),
                    extra={c: row[c] for c in extra_cols},
                )
            )
    cl = CodeList(
        codes=tuple(codes),
        provisional=doc["provisional"],
        sources=tuple(doc["sources"]),
        note=doc.get("note"),
        ref=name,
    )
    return cl, tuple(doc["references"])


def _changes(register: str, items: list[dict[str, Any]], variable: str | None) -> tuple:
    return tuple(
        ChangeEvent(
            year=c["year"],
            register=register,
            kind="documented",
            description=c["description"],
            variable=variable,
            sources=tuple(c["sources"]),
        )
        for c in items
    )


def _variable(path: Path, reg: dict[str, Any], v: dict[str, Any]) -> Variable:
    name = v["name"]
    where = f"variable {name!r}"
    first, last = v["first_year"], v["last_year"]
    if last is not None and last < first:
        raise _fail(path, f"{where}, field last_year", f"{last} is before first_year {first}")
    if first < reg["first_year"]:
        raise _fail(
            path,
            f"{where}, field first_year",
            f"{first} is before the register's first_year {reg['first_year']}",
        )
    refs = set(reg["references"])
    cited = list(v["sources"])
    for c in v.get("changes", []):
        cited += c["sources"]
    codes = None
    spec = v.get("codes")
    if spec is not None and v["type"] != "code":
        raise _fail(
            path, f"{where}, field codes", f"a code list needs type 'code', not {v['type']!r}"
        )
    if spec is None and v["type"] == "code":
        raise _fail(path, f"{where}, field codes", "type 'code' needs a code list")
    if spec is not None and "ref" in spec:
        if not (CODELIST_DIR / f"{spec['ref']}.yaml").exists():
            raise _fail(path, f"{where}, field codes.ref", f"no shared code list {spec['ref']!r}")
        codes, _ = _codelist(spec["ref"])
    elif spec is not None:
        cited += spec["sources"]
        seen: set[str] = set()
        built = []
        for i, c in enumerate(spec["values"]):
            field = f"{where}, field codes.values[{i}]"
            if c["code"] in seen:
                raise _fail(path, field, f"code {c['code']!r} appears twice")
            seen.add(c["code"])
            cf = c.get("first_year", first)
            cl = c.get("last_year", last)
            if cf < first or (last is not None and (cl is None or cl > last)):
                raise _fail(
                    path,
                    field,
                    f"code {c['code']!r} is valid {cf}-{cl or ''} outside its variable's "
                    f"years {first}-{last or ''}",
                )
            if cl is not None and cl < cf:
                raise _fail(path, field, f"code {c['code']!r}: last_year before first_year")
            cited += c.get("sources", [])
            built.append(
                Code(
                    c["code"],
                    c["label_sv"],
                    c["label_en"],
                    cf,
                    cl,
                    tuple(c.get("sources", ())),
                    group=c.get("group"),
                )
            )
        codes = CodeList(
            codes=tuple(built),
            provisional=spec["provisional"],
            sources=tuple(spec["sources"]),
            note=spec.get("note"),
        )
    unknown = [s for s in cited if s not in refs]
    if unknown:
        raise _fail(path, f"{where}, field sources", f"unknown reference {unknown[0]!r}")
    applies = v.get("applies_to")
    rng = v.get("range", {})
    return Variable(
        name=name,
        label_sv=v["label_sv"],
        label_en=v["label_en"],
        type=v["type"],
        identifier_class=v["identifier_class"],
        first_year=first,
        last_year=last,
        sources=tuple(v["sources"]),
        unit=v.get("unit"),
        description=v.get("description"),
        identifier_domain=v.get("identifier_domain"),
        pseudonym=v.get("pseudonym"),
        level=v.get("level"),
        nullable=v.get("nullable", False),
        applies_to=(applies["variable"], tuple(applies["codes"])) if applies else None,
        applies_in=v.get("applies_in"),
        min=rng.get("min"),
        max=rng.get("max"),
        codes=codes,
        changes=_changes(reg["register"], v.get("changes", []), name),
    )


def load_file(path: str | Path) -> Register:
    """Load and validate one catalogue file."""
    path = Path(path)
    raw = path.read_bytes() if path.exists() else b""
    doc = _read_yaml(path)
    _validate(path, doc, REGISTER_SCHEMA)
    if doc["register"] != path.stem:
        raise _fail(path, "field register", f"{doc['register']!r} differs from the file name")
    names = [v["name"] for v in doc["variables"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(path, f"variable {dupes[0]!r}, field name", "the name appears twice")
    variables = tuple(_variable(path, doc, v) for v in doc["variables"])
    for column in list(doc["key"]) + list(doc.get("period", [])):
        if column not in names:
            raise _fail(path, "field key/period", f"{column!r} is not a variable of the register")
    for var in variables:
        if var.applies_to and var.applies_to[0] not in names:
            raise _fail(
                path,
                f"variable {var.name!r}, field applies_to",
                f"{var.applies_to[0]!r} is not a variable of the register",
            )
    taken = set(names)
    for var in variables:
        field = f"variable {var.name!r}, field pseudonym"
        if var.is_direct_identifier and not var.pseudonym:
            raise _fail(path, field, "a direct identifier needs its extract column name")
        if var.pseudonym and not var.is_direct_identifier:
            raise _fail(path, field, "only a direct identifier is delivered as a pseudonym")
        if var.pseudonym:
            if var.pseudonym in taken:
                raise _fail(path, field, f"{var.pseudonym!r} is already a column name")
            taken.add(var.pseudonym)
    refs = doc["references"]
    missing: dict[int, str] = {}
    for i, item in enumerate(doc.get("missing_years", [])):
        field = f"field missing_years[{i}]"
        year = item["year"]
        if year < doc["first_year"] or (doc["last_year"] is not None and year > doc["last_year"]):
            raise _fail(path, field, f"{year} is outside the register's years")
        if year in missing:
            raise _fail(path, field, f"{year} appears twice")
        bad = [s for s in item["sources"] if s not in refs]
        if bad:
            raise _fail(path, field, f"unknown reference {bad[0]!r}")
        missing[year] = item["reason"]
    unknown = [s for c in doc.get("changes", []) for s in c["sources"] if s not in refs]
    if unknown:
        raise _fail(path, "field changes", f"unknown reference {unknown[0]!r}")
    references = {
        k: Reference(k, r["title"], r["confidence"], r.get("url"), r.get("note"))
        for k, r in refs.items()
    }
    for var in variables:
        if var.codes is not None and var.codes.ref is not None:
            _, ref_ids = _codelist(var.codes.ref)
            ref_doc = _read_yaml(CODELIST_DIR / f"{var.codes.ref}.yaml")["references"]
            for rid in ref_ids:
                r = ref_doc[rid]
                references.setdefault(
                    rid, Reference(rid, r["title"], r["confidence"], r.get("url"), r.get("note"))
                )
    return Register(
        name=doc["register"],
        version=str(doc["version"]),
        label_sv=doc["label_sv"],
        label_en=doc["label_en"],
        holder=doc["holder"],
        record=doc["record"],
        description=doc.get("description"),
        first_year=doc["first_year"],
        last_year=doc["last_year"],
        key=tuple(doc["key"]),
        period=tuple(doc.get("period", [])),
        variables=variables,
        references=references,
        changes=_changes(doc["register"], doc.get("changes", []), None),
        missing_years=dict(sorted(missing.items())),
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def registers() -> tuple[str, ...]:
    """The names of every register in the catalogue, sorted."""
    return tuple(sorted(p.stem for p in CATALOGUE_DIR.glob("*.yaml")))


@functools.cache
def load(register: str) -> Register:
    """The catalogue of ``register`` (cached: the files do not change while running)."""
    known = registers()
    if register not in known:
        raise CatalogueError(
            f"no register {register!r} in the catalogue",
            f"Use one of: {', '.join(known)}",
        )
    return load_file(CATALOGUE_DIR / f"{register}.yaml")


def catalogue_version() -> str:
    """One identifier for the whole catalogue: the SHA-256 of every catalogue and
    code-list file, so an extract records exactly which catalogue it was built from."""
    digest = hashlib.sha256()
    files = sorted(CATALOGUE_DIR.glob("*.yaml")) + sorted(CODELIST_DIR.glob("*"))
    for f in files:
        digest.update(f.relative_to(CATALOGUE_DIR).as_posix().encode())
        digest.update(f.read_bytes())
    return "sha256:" + digest.hexdigest()[:16]
