from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import ValidationFailed
from common.periods import (
    parse_period_key,
    period_by_key,
    period_containing,
    period_key_cycle,
    previous_period,
)


def test_it_puts_month_edges_at_local_midnight_in_utc():
    period = period_containing(datetime(2026, 11, 15, tzinfo=UTC), tz="Europe/Berlin")

    assert period.key == "2026-11"
    assert period.start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


def test_a_month_with_the_spring_dst_change_is_one_hour_shorter():
    period = period_containing(datetime(2026, 3, 10, tzinfo=UTC), tz="Europe/Berlin")

    assert (period.end - period.start).total_seconds() == 743 * 3600


def test_a_month_with_the_autumn_dst_change_is_one_hour_longer():
    period = period_containing(datetime(2026, 10, 10, tzinfo=UTC), tz="Europe/Berlin")

    assert (period.end - period.start).total_seconds() == 745 * 3600


def test_the_last_local_minute_of_a_month_belongs_to_that_month():
    # 2026-11-30 23:59 in Tokyo is 14:59 UTC
    period = period_containing(datetime(2026, 11, 30, 14, 59, tzinfo=UTC), tz="Asia/Tokyo")

    assert period.key == "2026-11"


def test_the_first_local_minute_of_a_month_belongs_to_the_next():
    period = period_containing(datetime(2026, 11, 30, 15, 0, tzinfo=UTC), tz="Asia/Tokyo")

    assert period.key == "2026-12"


def test_quarters_and_years_have_keys():
    at = datetime(2026, 8, 1, tzinfo=UTC)

    assert period_containing(at, tz="UTC", cycle="quarterly").key == "2026-Q3"
    assert period_containing(at, tz="UTC", cycle="yearly").key == "2026"


def test_period_by_key_round_trips():
    period = period_by_key("2026-02", tz="America/New_York")

    assert period.start == datetime(2026, 2, 1, 5, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def test_period_by_key_refuses_a_key_of_another_cycle():
    with pytest.raises(ValueError, match="does not match the monthly cycle"):
        period_by_key("2026-Q1", tz="UTC")


def test_previous_period_crosses_the_year():
    jan = period_by_key("2026-01", tz="UTC")

    assert previous_period(jan, tz="UTC").key == "2025-12"


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        period_containing(datetime(2026, 1, 1), tz="UTC")


@pytest.mark.parametrize(
    ("key", "cycle"),
    [("2026-11", "monthly"), (" 2026-01 ", "monthly"), ("2026-Q4", "quarterly"), ("2026", "yearly")],
)
def test_parse_period_key_takes_the_keys_of_every_cycle(key, cycle):
    assert parse_period_key(key) == key.strip()
    assert period_key_cycle(key.strip()) == cycle


@pytest.mark.parametrize(
    "key",
    [
        "2026-13",
        "2026-00",
        "2026-Q0",
        "2026-Q5",
        "2026-1-",
        "26-11",
        "2026-11-01",
        "garbage",
        "",
        "0000-01",
        "9999-12",
        "\uff12\uff10\uff12\uff16-11",
        "2026-q4",
    ],
)
def test_parse_period_key_refuses_what_is_no_period_key(key):
    with pytest.raises(ValidationFailed) as err:
        parse_period_key(key)

    assert (
        err.value.message
        == f"period {key!r} is not a period key: YYYY-MM, YYYY-Qn or YYYY (e.g. 2026-11, 2026-Q4, 2026)"
    )
    assert [(i.field, i.message) for i in err.value.issues] == [
        ("period", "expected YYYY-MM, YYYY-Qn or YYYY")
    ]


def test_parse_period_key_refuses_a_key_of_another_cycle_naming_the_field():
    with pytest.raises(ValidationFailed) as err:
        parse_period_key("2026-Q4", cycle="monthly", field="effective_from")

    assert err.value.message == "effective_from '2026-Q4' is not a monthly period key such as 2026-11"
    assert [(i.field, i.message) for i in err.value.issues] == [("effective_from", "e.g. 2026-11")]


def test_parse_period_key_refuses_what_is_not_text():
    with pytest.raises(ValidationFailed):
        parse_period_key(202611)


@given(st.text(max_size=12), st.sampled_from(["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"]))
def test_a_key_the_rule_takes_always_has_a_period(text, tz):
    try:
        key = parse_period_key(text)
    except ValidationFailed:
        return
    period = period_by_key(key, tz=tz, cycle=period_key_cycle(key))
    assert period.key == key
