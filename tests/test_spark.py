"""The Spark engine gives what one machine gives: the same pseudonyms, reject records,
spells and long-term counts on the synthetic registers, and the project key in no
query plan, log or event log.

Spark runs in local mode on loopback (two cores, two shuffle partitions, no UI), one
session for the module. ``-m spark`` selects these tests; they skip, saying why, only
when there is no Java runtime (pyspark itself is in the dev extra).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import shutil
import sys
import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mikrodata.pseudonymisation import KeyStore, parse_identifiers, pseudonymise_table
from mikrodata.pseudonymisation.spark import pseudonymise_spark
from mikrodata.toolkit.analysis import (
    IssuesWarning,
    build_spells,
    event_time,
    long_term,
    overlaps,
    panel,
    sequences,
)
from mikrodata.toolkit.errors import BadInputError, IntegrityError
from mikrodata.toolkit.synthetic import generate, read_register

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
        reason="no Java runtime: Spark needs a JDK 17 or later (apt-get install "
        "openjdk-17-jre-headless, or `make jdk`)",
    ),
]
pyspark = pytest.importorskip(
    "pyspark", reason="pyspark is not installed (pip install -e '.[dev]')"
)

COLUMNS = {"personnummer": "person", "hushallsid": "household"}
DELIVERED = dt.date(2019, 3, 1)  # the reference date of 10-digit numbers

_LOG4J = """\
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d %p %c: %m%n
"""


@pytest.fixture(scope="module")
def spark_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark")
    (root / "events").mkdir()
    (root / "log4j2.properties").write_text(_LOG4J.format(path=root / "spark.log"))
    return root


@pytest.fixture(scope="module")
def spark(spark_dirs):
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers import mikrodata
    log4j = f"-Dlog4j2.configurationFile=file:{spark_dirs / 'log4j2.properties'}"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mikrodata tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        # Small data: interpreting beats compiling each query, one plan beats re-planning.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.driver.extraJavaOptions", log4j)
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.compress", "false")  # plain JSON, to be searched
        .config("spark.eventLog.dir", f"file://{spark_dirs / 'events'}")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """Synthetic registers with identifier faults, as the register holder delivers them."""
    out = tmp_path_factory.mktemp("synthetic") / "registers"
    generate(out, persons=800, years=(2013, 2018), seed=5, faults=0.03)
    return {
        name: read_register(out, name).to_pandas(types_mapper=pd.ArrowDtype)
        for name in ("ekonomiskt_bistand", "befolkning", "dodsorsak")
    }


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    store = KeyStore.create(
        tmp_path_factory.mktemp("keys") / "keystore", "spark " + secrets.token_hex(8)
    )
    store.rotate("P1")
    return store.project_key("P1")


@pytest.fixture(scope="module")
def extract(raw) -> dict[str, pd.DataFrame]:
    """The registers shaped like an extract (pseudonym column names), clean rows only:
    the spells' own issues table still gets rows (duplicates, two households)."""
    frames = {}
    for name, frame in raw.items():
        frame = frame.rename(columns={"personnummer": "lopnr", "hushallsid": "lopnr_hushall"})
        frames[name] = frame[frame["lopnr"].notna()].reset_index(drop=True)
    return frames


def _same(a: pa.Table, b: pa.Table) -> None:
    pd.testing.assert_frame_equal(
        a.replace_schema_metadata(None).to_pandas(types_mapper=pd.ArrowDtype),
        b.replace_schema_metadata(None).to_pandas(types_mapper=pd.ArrowDtype),
    )


def test_pseudonyms_and_rejects_are_those_of_one_machine(spark, raw, key):
    eb = raw["ekonomiskt_bistand"]
    local = pseudonymise_table(eb, key, COLUMNS, DELIVERED)
    on_spark = pseudonymise_table(eb, key, COLUMNS, DELIVERED, engine="spark", spark=spark)
    assert on_spark.rows_rejected > 0  # the faults reach the reject records
    assert on_spark.rows_in == len(eb) == on_spark.rows_out + on_spark.rows_rejected
    assert on_spark.distinct["person"] > 30
    got = on_spark.to_local()
    _same(got.table, local.table)
    _same(got.rejected, local.rejected)
    assert (got.rows_in, got.rows_out, got.rows_rejected) == (
        local.rows_in,
        local.rows_out,
        local.rows_rejected,
    )
    assert got.table.schema.metadata[b"mikrodata.key_id"] == key.key_id.encode()
    assert set(got.rejected.column("reason").to_pylist()) >= {"check_digit", "missing"}
    on_spark.unpersist()


def test_a_spark_dataframe_is_numbered_in_partition_order(spark, raw, key):
    eb = raw["ekonomiskt_bistand"].iloc[:3000]
    frame = spark.createDataFrame(pa.Table.from_pandas(eb, preserve_index=False))
    frame = frame.repartition(3).localCheckpoint()
    order = frame.toArrow()  # the DataFrame's own order is the input order
    assert not order.equals(pa.Table.from_pandas(eb, preserve_index=False))
    local = pseudonymise_table(order, key, COLUMNS, DELIVERED)
    got = pseudonymise_spark(frame, key, COLUMNS, DELIVERED).to_local()
    _same(got.rejected, local.rejected)
    assert got.table.num_rows == local.table.num_rows


def test_the_key_is_in_no_plan_log_or_event_log(spark, spark_dirs, raw, key, capsys):
    result = pseudonymise_table(
        raw["ekonomiskt_bistand"].iloc[:2000], key, COLUMNS, DELIVERED, engine="spark", spark=spark
    )
    capsys.readouterr()
    result.table.explain(True)
    result.rejected.explain(True)
    plans = capsys.readouterr().out
    assert "mikrodata_pseudonymise" in plans  # the plan that runs the UDF, by name only
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    logs = (spark_dirs / "spark.log").read_text(errors="replace")
    events = "".join(
        p.read_text(errors="replace") for p in (spark_dirs / "events").rglob("*") if p.is_file()
    )
    assert "SparkListenerSQLExecutionStart" in events  # the event log records the plans
    assert "MapInArrow" in events and "INFO" in logs
    secret = key._secret
    needles = [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        secret.decode("latin-1"),
        repr(secret)[2:-1],
    ]
    for text, where in ((plans, "explain"), (logs, "Spark log"), (events, "event log")):
        for needle in needles:
            assert needle not in text, f"the project key is in the {where}"
    result.unpersist()


def test_a_collision_on_spark_stops_the_run(spark, raw, key):
    eb = raw["ekonomiskt_bistand"].iloc[:4000]
    with pytest.raises(IntegrityError, match="pseudonym collision"):
        pseudonymise_spark(eb, key, COLUMNS, DELIVERED, spark=spark, nbytes=1)


def test_personnummer_in_another_column_stop_the_extract_run(spark, raw, key):
    """The extract build reads every batch on the executors, not a sample."""
    eb = raw["ekonomiskt_bistand"][["personnummer", "statistikar"]].iloc[:3000].copy()
    ids = eb["personnummer"].dropna()
    valid = ids[parse_identifiers(ids)["reason"].isna().to_numpy()].iloc[0]
    eb["anteckning"] = pd.Series([None] * len(eb), dtype="string")
    eb.loc[2999, "anteckning"] = f"see {valid}"
    with pytest.raises(IntegrityError, match=r"anteckning \(1 distinct value\) look like"):
        pseudonymise_spark(
            eb,
            key,
            ["personnummer"],
            DELIVERED,
            spark=spark,
            check_residual=False,  # no sample: as the extract build runs it
            residual_in_tasks=True,
        )


def test_bad_engine_and_identifier_types_are_clear_errors(spark, key):
    with pytest.raises(BadInputError, match="engine 'sparks' is unknown"):
        pseudonymise_table(
            pd.DataFrame({"personnummer": ["x"]}), key, ["personnummer"], engine="sparks"
        )
    frame = spark.createDataFrame(pd.DataFrame({"personnummer": [1.5]}))
    with pytest.raises(BadInputError, match="has type double"):
        pseudonymise_spark(frame, key, ["personnummer"])


def test_person_spells_are_those_of_duckdb(spark, extract):
    eb = extract["ekonomiskt_bistand"]
    options = dict(
        gap=1,
        resolution="month",
        befolkning=extract["befolkning"],
        dodsorsak=extract["dodsorsak"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IssuesWarning)
        duck = build_spells(eb, **options)
        frame = spark.createDataFrame(pa.Table.from_pandas(eb, preserve_index=False))
        on_spark = build_spells(frame, engine="spark", spark=spark, **options)
    assert len(duck.spells) > 40 and len(duck.issues) > 0
    pd.testing.assert_frame_equal(on_spark.spells, duck.spells)
    pd.testing.assert_frame_equal(on_spark.issues, duck.issues)
    assert on_spark.rows_in == duck.rows_in == len(eb)


def test_household_spells_and_long_term_are_those_of_duckdb(spark, extract):
    eb = extract["ekonomiskt_bistand"]
    duck = build_spells(eb, gap=0, unit="household", resolution="month")
    on_spark = build_spells(eb, gap=0, unit="household", resolution="month", engine="spark")
    pd.testing.assert_frame_equal(on_spark.spells, duck.spells)
    pd.testing.assert_frame_equal(on_spark.issues, duck.issues)
    for unit in ("person", "household"):
        duck_lt = long_term(eb, unit=unit)
        spark_lt = long_term(eb, unit=unit, engine="spark", spark=spark)
        assert duck_lt["long_term"].sum() > 0
        pd.testing.assert_frame_equal(spark_lt, duck_lt)


def test_cli_pseudonymises_with_spark(spark, run_cli, workdir, raw, tmp_path):
    passphrase = "cli " + secrets.token_hex(8)
    env = {
        "MIKRODATA_HOME": str(workdir / ".mikrodata"),
        "MIKRODATA_KEYSTORE": "",
        "MIKRODATA_KEYSTORE_PASSPHRASE": passphrase,
    }
    assert run_cli("keys", "init", "--project", "P1", env=env).exit_code == 0
    eb = raw["ekonomiskt_bistand"].iloc[:2000]
    pq.write_table(pa.Table.from_pandas(eb, preserve_index=False), workdir / "eb.parquet")
    args = ["pseudonymise", "--project", "P1", "--in", "eb.parquet", "--reference-date"]
    args += ["2019-03-01", "--column", "personnummer", "--domain", "hushallsid=household"]
    local = run_cli(*args, "--out", "local.parquet", env=env)
    assert local.exit_code == 0, local.output
    on_spark = run_cli(*args, "--out", "spark.parquet", "--engine", "spark", env=env)
    assert on_spark.exit_code == 0, (on_spark.output, on_spark.exception)
    assert local.output.splitlines()[-1] == on_spark.output.splitlines()[-1]  # the counts
    for name in ("", ".rejected"):  # Spark's part files, in name order: the input order
        theirs = pq.read_table(workdir / f"local{name}.parquet")
        mine = pq.read_table(workdir / f"spark{name}.parquet").select(theirs.column_names)
        assert mine.num_rows == theirs.num_rows > 0
        _same(mine.cast(theirs.schema.remove_metadata()), theirs)
    bad = run_cli(*args, "--out", "x.csv", "--engine", "spark", env=env)
    assert bad.exit_code != 0 and "writes Parquet" in bad.output


@pytest.fixture(scope="module")
def person_spells(extract) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IssuesWarning)
        return build_spells(extract["ekonomiskt_bistand"], gap=1, resolution="month").spells


@pytest.fixture(scope="module")
def intervals(person_spells) -> pd.DataFrame:
    """Intervals of two kinds that overlap some spells, touch others and miss the rest,
    with a tie (two kinds from one month) and a missing kind."""
    s = person_spells.iloc[::3].reset_index(drop=True)
    kinds = pd.Series(["x", "y", None] * (len(s) // 3 + 1))[: len(s)].to_numpy()
    a = pd.DataFrame({"lopnr": s["lopnr"], "kind": kinds, "start": s["start"] - 2})
    a["end"] = s["start"] + 3
    b = pd.DataFrame({"lopnr": s["lopnr"], "kind": "z", "start": s["end"], "end": s["end"] + 8})
    return pd.concat([a, b, a.iloc[:20].assign(kind="w")], ignore_index=True)


def test_overlaps_are_those_of_duckdb(spark, person_spells, intervals):
    duck = overlaps(person_spells, intervals)
    on_spark = overlaps(person_spells, intervals, engine="spark", spark=spark)
    assert len(duck) > 100 and duck["kind"].isna().any()
    pd.testing.assert_frame_equal(on_spark, duck)


def test_panels_event_time_and_sequences_are_those_of_duckdb(
    spark, extract, person_spells, intervals
):
    eb = extract["ekonomiskt_bistand"]
    frame = spark.createDataFrame(pa.Table.from_pandas(eb, preserve_index=False))
    states = {"placed": intervals}
    for options in (
        dict(states=states, span="observed"),
        dict(freq="year", states=states, window=("2014-01", "2017-12")),
    ):
        duck = panel(eb, **options)
        on_spark = panel(frame, engine="spark", spark=spark, **options)
        assert duck["placed"].any() and not duck["placed"].all()
        pd.testing.assert_frame_equal(on_spark, duck)
    spells = person_spells.iloc[:300]
    duck = event_time(spells, eb, before=3, after=6, states=states)
    on_spark = event_time(spells, frame, before=3, after=6, states=states, engine="spark")
    assert duck["on_assistance"].any() and duck["placed"].any()
    pd.testing.assert_frame_equal(on_spark, duck)
    window = ("2015-01", "2015-12")
    duck = sequences(eb, window=window, states=states)
    pd.testing.assert_frame_equal(
        sequences(frame, window=window, states=states, engine="spark", spark=spark), duck
    )


def test_an_extract_built_on_spark_is_the_one_machine_extract(spark, tmp_path, run_cli):
    """Selection by the approval, pseudonyms, reject records, the sort order and the
    signed manifest: the same as the one-machine build; `extract verify` passes."""
    from mikrodata.toolkit.extract import verify_extract
    from tests.access_requests.support import (
        PASSPHRASE,
        STEWARD,
        approved_extract,
        make_delivery,
        make_keystore,
        steward_build,
    )

    delivery = make_delivery(tmp_path / "registers", persons=150)
    keystore = make_keystore(tmp_path / "keys" / "keystore")
    made = approved_extract(
        tmp_path,
        delivery["root"],
        keystore,
        out=tmp_path / "duck",
        rejects=tmp_path / "duck.rejects",
    )
    request, log, duck = made.request, made.log, made.result
    on_spark = steward_build(
        request,
        delivery["root"],
        tmp_path / "spark",
        keystore,
        log,
        rejects=tmp_path / "spark.rejects",
        engine="spark",
        spark=spark,
    )
    register = "ekonomiskt_bistand"
    mine, theirs = on_spark.manifest["registers"][register], duck.manifest["registers"][register]
    for field in ("rows_read", "rows_outside_population", "rows_in", "rows_out"):
        assert mine[field] == theirs[field], field
    assert mine["rows_rejected"] == theirs["rows_rejected"] == delivery["faulty_rows"]
    assert mine["columns"] == theirs["columns"] and mine["years_found"] == theirs["years_found"]
    assert on_spark.manifest["population"] == duck.manifest["population"]
    assert on_spark.manifest["key"] == duck.manifest["key"]

    def data(result):
        files = result.manifest["registers"][register]["files"]
        return pa.concat_tables([pq.read_table(result.out / f) for f in files])

    got, want = data(on_spark), data(duck)
    assert got.num_rows == want.num_rows > 1000
    # The same rows, pseudonyms and order (Spark's writer marks no column non-null, and
    # writes other Parquet bytes than DuckDB's: the checksums differ, not the data).
    assert got.schema.remove_metadata() == pa.schema([f.with_nullable(True) for f in want.schema])
    assert got.cast(want.schema).equals(want)
    reject = f"{register}.parquet"
    rejected = pq.read_table(on_spark.rejects / reject)
    expected = pq.read_table(duck.rejects / reject)
    order = [("source_file", "ascending"), ("source_row", "ascending")]
    assert rejected.sort_by(order).equals(expected.sort_by(order))
    assert oct((on_spark.rejects / reject).stat().st_mode)[-3:] == "600"
    verify_extract(on_spark.out, audit=log)

    other = tmp_path / "other-format"
    other.mkdir()
    (other / f"{register}.csv").write_text("personnummer;statistikar\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="not delivered as Parquet"):
        steward_build(request, other, tmp_path / "x", keystore, log, engine="spark", spark=spark)
    args = ["extract", "build", "--request", str(request), "--registers", str(other)]
    args += ["--out", str(tmp_path / "y"), "--keystore", str(keystore), "--user", STEWARD]
    refused = run_cli(
        *args,
        "--log",
        str(log.path),
        "--engine",
        "spark",
        env={"MIKRODATA_KEYSTORE_PASSPHRASE": PASSPHRASE},
    )
    assert refused.exit_code == BadInputError.exit_code, refused.output
    assert "not delivered as Parquet" in refused.output and "Traceback" not in refused.output
