"""Helpers shared by the access and extract tests: a request file and its approval."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mikrodata.access_requests import STEWARD_STATES, AuditLog, create_request, transition

STEWARD = "steward"
PI = "anna.andersson"
RESEARCHER = "bertil.berg"


def write_request(path: Path, **overrides: Any) -> Path:
    """Write a valid request (the example, with ``overrides`` of top-level fields)."""
    example = Path(__file__).resolve().parents[2] / "access_requests/examples/example_project.yaml"
    doc = yaml.safe_load(example.read_text(encoding="utf-8"))
    doc.update(overrides)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


_STORES: dict[str, object] = {}


def steward_store(path: Path | None = None):
    """The steward's key store (created at ``path``, default the test's own home, on
    first use), its public key trusted in the test's trust store."""
    from mikrodata.pseudonymisation import KeyStore
    from mikrodata.toolkit.paths import keystore_path

    path = Path(path) if path is not None else keystore_path()
    store = _STORES.get(str(path)) if path.exists() else None
    if store is None:  # opening costs a scrypt: once per key store and test session
        exists = path.exists()
        store = KeyStore.open(path, PASSPHRASE) if exists else KeyStore.create(path, PASSPHRASE)
        _STORES[str(path)] = store
    trust_key(store)
    return store


def trust_key(store) -> None:
    """Trust the store's signing key in the current test's trust store."""
    from mikrodata.toolkit.paths import trusted_keys_path

    trust = trusted_keys_path()
    trust.mkdir(parents=True, exist_ok=True)
    public = store.public_key()
    (trust / f"{public.key_id}.pub").write_text(public.to_text(), encoding="utf-8")


def move(path: Path, to: str, log: AuditLog, user: str | None = None, store=None) -> None:
    """One move by the right person: the request's PI for a researcher's move, the
    steward (with the key store ``store``, default :func:`steward_store`, signed) for a
    steward's."""
    if to in STEWARD_STATES:
        signer = store or steward_store()
        transition(path, to, user=user or STEWARD, audit=log, signer=signer)
    else:
        transition(path, to, user=user or _principal_investigator(path), audit=log)


def _principal_investigator(path: Path) -> str:
    return yaml.safe_load(path.read_text(encoding="utf-8")).get("principal_investigator") or PI


def approve(
    path: Path, log: AuditLog, *, upto: str = "confidentiality_approved", store=None
) -> None:
    """Walk a draft request through submission and approvals."""
    for to in ("submitted", "ethics_approved", "confidentiality_approved"):
        move(path, to, log, store=store)
        if to == upto:
            return


def new_approved_request(directory: Path, log: AuditLog, store=None, **overrides: Any) -> Path:
    """A request, created through the life cycle and approved (signed by ``store``,
    default :func:`steward_store`), in ``directory``."""
    project = overrides.get("project", "P2026-001")
    path = directory / f"{project}.yaml"
    create_request(path, project, user=overrides.get("principal_investigator", PI), audit=log)
    write_request(path, **overrides)
    approve(path, log, store=store)
    return path


# -- extract fixtures ------------------------------------------------------------------

PASSPHRASE = "test-passphrase-not-secret"
DELIVERY_YEARS = tuple(range(2010, 2022))  # wider than the approval (2012-2020)
FAULT_YEAR = 2015


def make_delivery(directory: Path, persons: int = 120, seed: int = 1) -> dict[str, Any]:
    """A synthetic social-assistance delivery with faults in one year: a wrong check
    digit, a missing identifier, an identifier that is not a number at all, and a
    missing household id.
    Returns the raw identifiers and the number of faulty rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mikrodata.toolkit.extract import synthetic_register

    root = synthetic_register("ekonomiskt_bistand", DELIVERY_YEARS, persons, directory, seed=seed)
    path = root / f"statistikar={FAULT_YEAR}" / "part-0.parquet"
    table = pq.read_table(path)
    ids = table.column("personnummer").to_pylist()
    wrong = ids[0][:-1] + str((int(ids[0][-1]) + 1) % 10)
    ids[0], ids[1], ids[2] = wrong, None, "not-a-number"
    idx = table.schema.get_field_index("personnummer")
    table = table.set_column(idx, "personnummer", pa.array(ids, pa.string()))
    # a valid person in a row without its household id: the pseudonymiser rejects it
    households = table.column("hushallsid").to_pylist()
    households[3] = None
    idx = table.schema.get_field_index("hushallsid")
    table = table.set_column(idx, "hushallsid", pa.array(households, pa.string()))
    pq.write_table(table, path)
    raw = set()
    for f in root.rglob("*.parquet"):
        raw |= {v for v in pq.read_table(f).column("personnummer").to_pylist() if v}
    return {"root": directory, "raw_ids": raw, "faulty_rows": 4}


def make_keystore(path: Path, project: str = "P2026-001") -> Path:
    """A key store at ``path`` with the project's key (trust it in a test with
    :func:`steward_store` ``(path)``)."""
    from mikrodata.pseudonymisation import KeyStore

    KeyStore.create(path, PASSPHRASE).ensure_project(project)
    return path


def steward_build(
    request: Path,
    registers: Path,
    out: Path,
    keystore: Path,
    log: AuditLog,
    *,
    rejects: Path | None = None,
    **options: Any,
):
    """``build_extract`` of ``request`` from ``registers`` into ``out``, by the steward
    with the test passphrase (``options`` go to ``build_extract`` and may override
    both). The test deliveries carry deliberate identifier faults, which the quality
    suites' delivery checks would (rightly) stop first: the checks are off unless asked
    for with ``delivery_checks=True``."""
    from mikrodata.toolkit.extract import build_extract

    options.setdefault("user", STEWARD)
    options.setdefault("passphrase", PASSPHRASE)
    options.setdefault("delivery_checks", False)
    return build_extract(
        request, registers, out, keystore=keystore, rejects=rejects, audit=log, **options
    )


@dataclass(frozen=True)
class ApprovedExtract:
    """What :func:`approved_extract` made: the build's result, the approved request, the
    audit log, the steward's (signing) key store and the key store's path."""

    result: Any
    request: Path
    log: AuditLog
    store: Any
    keystore: Path

    @property
    def out(self) -> Path:
        return self.result.out


def approved_extract(
    root: Path,
    registers: Path,
    keystore: Path,
    *,
    requests: Path | None = None,
    out: Path | None = None,
    rejects: Path | None = None,
    log: AuditLog | None = None,
    request: dict[str, Any] | None = None,
    **options: Any,
) -> ApprovedExtract:
    """An approved request and its extract, built by the steward (:func:`steward_build`,
    ``options`` go there) from ``registers`` with the project key in ``keystore``.

    The request is the example with the top-level fields ``request`` overriding it,
    approved and signed by :func:`steward_store` ``(keystore)``; it is written in
    ``requests`` (default ``root``), its audit log is ``log`` (default
    ``root/audit.jsonl``), the extract ``out`` (default ``root/extract``) and the rejects
    ``rejects`` (default ``root/rejects``)."""
    store = steward_store(keystore)
    log = log if log is not None else AuditLog(root / "audit.jsonl")
    requests = requests if requests is not None else root
    requests.mkdir(parents=True, exist_ok=True)
    path = new_approved_request(requests, log, store=store, **(request or {}))
    result = steward_build(
        path,
        registers,
        out if out is not None else root / "extract",
        keystore,
        log,
        rejects=rejects if rejects is not None else root / "rejects",
        **options,
    )
    return ApprovedExtract(result, path, log, store, keystore)
