"""Allocation arithmetic (billing.allocation.shares) and rule bodies (spec), pure."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.allocation.shares import UNALLOCATED, AllocationError, Share, allocate, split
from billing.allocation.spec import SpecError, parse_spec

D = Decimal


def test_even_split_gives_the_leftover_cent_to_the_first_target() -> None:
    assert allocate(method="even", total=D("100.00"), targets=["a", "b", "c"], currency="EUR") == [
        Share("a", D("33.34")),
        Share("b", D("33.33")),
        Share("c", D("33.33")),
    ]


def test_largest_remainder_wins_before_order() -> None:
    # exact shares 3.333.., 6.666..: cut 3.33 and 6.66, the missing cent to the larger remainder (b)
    assert split(D("10.00"), [("a", D(1)), ("b", D(2))], "EUR") == [
        Share("a", D("3.33")),
        Share("b", D("6.67")),
    ]


def test_fixed_percentages_below_100_leave_an_unallocated_line() -> None:
    shares = allocate(
        method="fixed",
        total=D("1000.00"),
        targets=["project:web", "team:data"],
        currency="EUR",
        percentages={"project:web": D("60"), "team:data": D("25")},
    )
    assert shares == [
        Share("project:web", D("600.00")),
        Share("team:data", D("250.00")),
        Share(UNALLOCATED, D("150.00")),
    ]


def test_percentages_above_100_are_refused() -> None:
    with pytest.raises(AllocationError, match="more than 100"):
        allocate(
            method="fixed",
            total=D(1),
            targets=["a", "b"],
            currency="EUR",
            percentages={"a": D(60), "b": D(41)},
        )


def test_no_weight_anywhere_leaves_everything_unallocated() -> None:
    shares = allocate(method="proportional", total=D("50.00"), targets=["a"], currency="EUR", weights={})
    assert shares == [Share("a", D("0.00")), Share(UNALLOCATED, D("50.00"))]


def test_yen_has_no_cents() -> None:
    assert allocate(method="even", total=D("100"), targets=["a", "b", "c"], currency="JPY") == [
        Share("a", D("34")),
        Share("b", D("33")),
        Share("c", D("33")),
    ]


def test_a_negative_cost_splits_with_its_sign() -> None:
    assert split(D("-0.05"), [("a", D(1)), ("b", D(1))], "EUR") == [
        Share("a", D("-0.03")),
        Share("b", D("-0.02")),
    ]


money = st.decimals(
    min_value=D("-1000000"), max_value=D("1000000"), places=2, allow_nan=False, allow_infinity=False
)
weights = st.lists(
    st.decimals(min_value=D(0), max_value=D("100000"), places=4, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=12,
)


@given(total=money, ws=weights, method=st.sampled_from(["even", "proportional", "usage"]))
def test_shares_always_sum_to_the_cost_to_the_cent(total: Decimal, ws: list[Decimal], method: str) -> None:
    targets = [f"t{i}" for i in range(len(ws))]
    shares = allocate(
        method=method,
        total=total,
        targets=targets,
        currency="EUR",
        weights=dict(zip(targets, ws, strict=True)),
    )
    assert sum((s.amount for s in shares), D(0)) == total
    assert all(s.amount == s.amount.quantize(D("0.01")) for s in shares)


@given(total=money, ws=weights)
def test_each_share_is_within_a_cent_of_its_exact_part(total: Decimal, ws: list[Decimal]) -> None:
    base = sum(ws, D(0))
    pairs = [(f"t{i}", w) for i, w in enumerate(ws)]
    shares = split(total, pairs, "EUR")
    if base == 0:
        assert shares == []
        return
    for share, (_t, w) in zip(shares, pairs, strict=True):
        assert abs(share.amount - total * w / base) < D("0.01")


@given(total=money, pcts=st.lists(st.integers(min_value=0, max_value=25), min_size=1, max_size=4))
def test_fixed_shares_and_the_unallocated_line_sum_to_the_cost(total: Decimal, pcts: list[int]) -> None:
    targets = [f"t{i}" for i in range(len(pcts))]
    shares = allocate(
        method="fixed",
        total=total,
        targets=targets,
        currency="EUR",
        percentages={t: D(p) for t, p in zip(targets, pcts, strict=True)},
    )
    assert sum((s.amount for s in shares), D(0)) == total


def test_a_rule_body_is_validated_field_by_field() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(
            {
                "source": {"kind": "invoice"},
                "method": "fixed",
                "targets": ["project:web"],
                "percentages": {"project:web": 60},
            }
        )
    assert (err.value.field, err.value.message) == (
        "percentages.project:web",
        'a decimal written as a string, e.g. "12.50"',
    )


def test_a_target_is_a_project_or_a_team() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({"source": {"kind": "invoice"}, "method": "even", "targets": ["web"]})
    assert err.value.field == "targets[0]"


@pytest.mark.parametrize(
    ("total", "shares"),
    [("10.005", ("5.01", "5.00")), ("-10.005", ("-5.01", "-5.00")), ("0.125", ("0.07", "0.06"))],
)
def test_a_cost_with_sub_cent_digits_rounds_half_up_before_the_split(
    total: str, shares: tuple[str, str]
) -> None:
    assert allocate(method="even", total=D(total), targets=["a", "b"], currency="EUR") == [
        Share("a", D(shares[0])),
        Share("b", D(shares[1])),
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "digits"), [("10.005", "EUR", 2), ("10.5", "JPY", 0), ("1.0001", "KWD", 3)]
)
def test_a_fixed_amount_with_more_decimals_than_its_currency_is_refused(
    amount: str, currency: str, digits: int
) -> None:
    body = {
        "source": {"kind": "amount", "amount": amount, "currency": currency},
        "method": "even",
        "targets": ["team:a"],
    }
    with pytest.raises(SpecError) as err:
        parse_spec(body)
    assert (err.value.field, err.value.message) == (
        "source.amount",
        f"at most {digits} decimal(s) in {currency}",
    )


def test_a_fixed_amount_with_trailing_zeros_is_taken() -> None:
    body = {
        "source": {"kind": "amount", "amount": "10.5000", "currency": "EUR"},
        "method": "even",
        "targets": ["team:a"],
    }
    assert parse_spec(body).amount == D("10.5000")
