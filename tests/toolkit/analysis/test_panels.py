"""Person-period panels, event-time alignment and state sequences."""

from __future__ import annotations

from mikrodata.toolkit.analysis import (
    build_spells,
    event_time,
    panel,
    register_intervals,
    sequences,
)

from .spec import comparable, table

EB = """
    lopnr | months
    ------+------------------
    a     | 2015-01..2015-02
    b     | 2015-04
    """
LSS = """
    lopnr | ar   | insats
    ------+------+-------
    b     | 2014 | 2
    """


def test_panel_by_month_with_states():
    states = {"lss": register_intervals(table(LSS), "lss")}
    p = panel(table(EB), window=("2014-10", "2015-04"), states=states)
    assert len(p) == 2 * 7
    b = p[p.lopnr == "b"]
    assert comparable(b, ["period", "on_assistance", "lss"])[:2] == [
        ("2014-10", False, True),
        ("2014-11", False, False),
    ]
    assert b["on_assistance"].tolist()[-1] is True or bool(b["on_assistance"].tolist()[-1])
    obs = panel(table(EB), span="observed")
    assert comparable(obs, ["lopnr", "period"]) == [
        ("a", "2015-01"),
        ("a", "2015-02"),
        ("b", "2015-04"),
    ]
    years = panel(table(EB), freq="year")
    assert comparable(years, ["lopnr", "period", "on_assistance"]) == [
        ("a", "2015", True),
        ("b", "2015", True),
    ]


def test_event_time_around_spell_start():
    eb = table(EB)
    s = build_spells(eb).spells
    et = event_time(s, eb, before=1, after=2)
    a = et[et.lopnr == "a"]
    assert comparable(a, ["event_time", "period", "on_assistance"]) == [
        (-1, "2014-12", False),
        (0, "2015-01", True),
        (1, "2015-02", True),
        (2, "2015-03", False),
    ]


def test_sequences_are_wide_with_one_state_per_month():
    states = {"lss": register_intervals(table(LSS), "lss")}
    seq = sequences(table(EB), window=("2014-10", "2015-04"), states=states)
    assert list(seq.columns)[:3] == ["lopnr", "2014-10", "2014-11"]
    assert seq.set_index("lopnr").loc["b"].tolist() == ["L", "-", "-", "-", "-", "-", "A"]
    assert seq.set_index("lopnr").loc["a"].tolist()[3:5] == ["A", "A"]
