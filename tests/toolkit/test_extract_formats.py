from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from mikrodata.access_requests import AuditLog
from mikrodata.toolkit.extract import build_extract
from tests.access_requests.support import (
    PASSPHRASE,
    STEWARD,
    make_delivery,
    make_keystore,
    new_approved_request,
    steward_store,
)


def test_peek(tmp_path):
    delivery = make_delivery(tmp_path / "registers", persons=40)
    keystore = make_keystore(tmp_path / "keys" / "keystore")
    store = steward_store(keystore)
    log = AuditLog(tmp_path / "audit.jsonl")
    (tmp_path / "req").mkdir()
    request = new_approved_request(tmp_path / "req", log, store=store)
    result = build_extract(request, delivery["root"], tmp_path / "x", keystore=keystore,
        passphrase=PASSPHRASE, rejects=tmp_path / "rej", user=STEWARD, audit=log, delivery_checks=False, formats=["stata,sas-xpt", "csv", "spss"])
    t = pq.read_table(result.out / "ekonomiskt_bistand" / "part-0.parquet")
    print(t.schema)
    print(t.slice(0, 3).to_pandas().T)
    import json; print(json.dumps(result.manifest["registers"]["ekonomiskt_bistand"]["exports"], indent=1))
    from mikrodata.toolkit.extract import verify_extract
    verify_extract(result.out)
    import pyreadstat
    d, m = pyreadstat.read_dta(result.out / "formats/stata/ekonomiskt_bistand.dta")
    print(d.head(3).T, d.dtypes, m.column_names_to_labels, m.variable_value_labels.keys())
    d, m = pyreadstat.read_xport(result.out / "formats/sas-xpt/ekonomiskt_bistand.xpt")
    print(d.head(3).T, d.dtypes, m.column_names_to_labels)
    print((result.out / "formats/csv/ekonomiskt_bistand.csv").read_text()[:400])
    assert 0
