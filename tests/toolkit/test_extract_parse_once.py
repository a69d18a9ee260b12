"""A build parses each delivered identifier once: the population (everyone in the
social-assistance register in its years) and the register's own selection read the
same identifiers and share one parse (``toolkit/extract/parsed.py``)."""

from __future__ import annotations

import importlib

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset  # noqa: F401  (pa.dataset)

from tests.access_requests.support import approved_extract, make_delivery, make_keystore

parsed_module = importlib.import_module("mikrodata.toolkit.extract.parsed")


def test_each_identifier_is_parsed_once_per_build(tmp_path, monkeypatch):
    delivery = make_delivery(tmp_path / "registers")
    seen: list = []
    parse = parsed_module.parse_identifiers

    def counted(values, *args, **kwargs):
        seen.extend(pa.array(values).to_pylist())
        return parse(values, *args, **kwargs)

    monkeypatch.setattr(parsed_module, "parse_identifiers", counted)
    built = approved_extract(tmp_path, delivery["root"], make_keystore(tmp_path / "keystore"))
    assert built.result.manifest["registers"]["ekonomiskt_bistand"]["rows_out"] > 0
    # Every distinct identifier of the approved years, and none twice.
    eb = pa.dataset.dataset(
        delivery["root"] / "ekonomiskt_bistand", format="parquet", partitioning="hive"
    ).to_table()
    years = pa.array(range(2012, 2021), eb.column("statistikar").type)
    approved = eb.filter(pc.is_in(eb.column("statistikar"), value_set=years))
    distinct = set(pc.cast(approved.column("personnummer"), pa.string()).to_pylist())
    assert len(seen) == len(set(seen))
    assert set(seen) == distinct
