from datetime import UTC, datetime

import pytest

from common.periods import period_by_key, period_containing, previous_period


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
