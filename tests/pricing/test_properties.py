"""Invariants of the engine, checked with hypothesis over generated prices and quantities.

Only what really holds is asserted: e.g. volume is *not* monotone (a larger quantity can drop into a
cheaper tier), so monotonicity is checked for graduated, graduated_percentage, per_unit and package.
"""

from dataclasses import fields, is_dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing import PercentagePrice, Price, PriceResult, parse_price, price, quote
from common.money import quantize_money
from tests.pricing.helpers import walk

bounded = settings(max_examples=60, deadline=None)  # keeps the whole module at a few seconds

amounts = st.decimals(min_value=0, max_value=1000, places=3)
percents = st.decimals(min_value=0, max_value=100, places=2)
quantities = st.decimals(min_value=0, max_value=10**7, places=2)
positive_sizes = st.decimals(min_value=Decimal("0.01"), max_value=1000, places=2)


@st.composite
def tier_lists(draw, *, rates=False):
    bounds = sorted(draw(st.sets(st.decimals(min_value=1, max_value=10**6, places=1), max_size=3)))
    tiers = []
    for up_to in [*bounds, None]:
        tier = {"up_to": up_to, "flat_amount": draw(amounts)}
        tier["rate" if rates else "unit_amount"] = draw(percents if rates else amounts)
        tiers.append(tier)
    return tiers


graduated = st.builds(lambda t: {"model": "graduated", "tiers": t}, tier_lists())
graduated_percentage = st.builds(
    lambda t: {"model": "graduated_percentage", "tiers": t}, tier_lists(rates=True)
)
volume = st.builds(lambda t: {"model": "volume", "tiers": t}, tier_lists())
per_unit = st.builds(lambda u, f: {"model": "per_unit", "unit_amount": u, "free_units": f}, amounts, amounts)
package = st.builds(
    lambda s, a, f: {"model": "package", "package_size": s, "package_amount": a, "free_units": f},
    positive_sizes,
    amounts,
    amounts,
)
flat = st.builds(lambda a: {"model": "flat", "amount": a}, amounts)


@st.composite
def percentage(draw):
    entry = {"model": "percentage", "rate": draw(percents), "fixed_amount": draw(amounts)}
    if draw(st.booleans()):
        entry["free_events"] = draw(st.integers(0, 5))
    if draw(st.booleans()):
        entry["free_units"] = draw(amounts)
    bounds = sorted(draw(st.lists(amounts, min_size=2, max_size=2)))
    if draw(st.booleans()):
        entry["min_per_event"] = bounds[0]
    if draw(st.booleans()):
        entry["max_per_event"] = bounds[1]
    return entry


quantity_models = st.one_of(graduated, graduated_percentage, volume, per_unit, package, flat)
monotone_models = st.one_of(graduated, graduated_percentage, per_unit, package)
event_lists = st.lists(st.decimals(min_value=0, max_value=5000, places=2), max_size=12)


def p(entry) -> Price:
    return parse_price(entry)


@bounded
@given(unit=amounts, quantity=quantities)
def test_graduated_with_one_open_tier_equals_per_unit(unit, quantity):
    one_tier = p({"model": "graduated", "tiers": [{"up_to": None, "unit_amount": unit}]})

    assert (
        price(one_tier, quantity=quantity).amount
        == price(p({"model": "per_unit", "unit_amount": unit}), quantity=quantity).amount
    )


@bounded
@given(entry=quantity_models, quantity=quantities)
def test_amounts_are_never_negative(entry, quantity):
    assert price(p(entry), quantity=quantity).amount >= 0


@bounded
@given(entry=percentage(), events=event_lists)
def test_percentage_amounts_are_never_negative(entry, events):
    assert price(p(entry), quantity=sum(events, Decimal(0)), events=events).amount >= 0


@bounded
@given(entry=monotone_models, a=quantities, b=quantities)
def test_graduated_per_unit_and_package_never_decrease_with_quantity(entry, a, b):
    low, high = sorted([a, b])

    assert price(p(entry), quantity=low).amount <= price(p(entry), quantity=high).amount


@bounded
@given(entry=quantity_models, a=quantities, b=quantities)
def test_a_continuing_segment_adds_up_to_the_whole_period(entry, a, b):
    parsed = p(entry)

    first = price(parsed, quantity=a).amount
    rest = price(parsed, quantity=b, carried_quantity=a).amount

    assert first + rest == price(parsed, quantity=a + b).amount


@bounded
@given(entry=graduated, a=quantities, b=quantities)
def test_a_continuing_graduated_segment_is_never_negative(entry, a, b):
    assert price(p(entry), quantity=b, carried_quantity=a).amount >= 0


@bounded
@given(entry=percentage(), earlier=event_lists, later=event_lists)
def test_percentage_segments_add_up_to_the_whole_period(entry, earlier, later):
    parsed = p(entry)
    total = sum(earlier, Decimal(0))

    first = price(parsed, quantity=total, events=earlier).amount
    rest = price(parsed, quantity=sum(later, Decimal(0)), events=later, carried_events=earlier).amount

    assert (
        first + rest == price(parsed, quantity=total + sum(later, Decimal(0)), events=earlier + later).amount
    )


@bounded
@given(entry=percentage(), events=event_lists)
def test_every_charged_event_respects_the_clamps(entry, events):
    parsed = p(entry)
    assert isinstance(parsed, PercentagePrice)

    for row in price(parsed, quantity=sum(events, Decimal(0)), events=events).breakdown:
        if row.amount:
            assert parsed.min_per_event is None or row.amount >= parsed.min_per_event
            assert parsed.max_per_event is None or row.amount <= parsed.max_per_event


def _decimals_only(result: PriceResult) -> bool:
    values = [result.amount]
    for row in result.breakdown:
        assert is_dataclass(row)
        values.extend(getattr(row, f.name) for f in fields(row))
    return all(not isinstance(v, float) for v in values) and isinstance(result.amount, Decimal)


@bounded
@given(entry=quantity_models, quantity=quantities)
def test_results_hold_decimals_and_never_a_float(entry, quantity):
    assert _decimals_only(price(p(entry), quantity=quantity))


@bounded
@given(
    entry=st.one_of(quantity_models, percentage()),
    events=event_lists,
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
)
def test_quotes_are_json_of_strings_ints_bools_and_nulls(entry, events, currency):
    payload = {
        "price": {k: (str(v) if isinstance(v, Decimal) else v) for k, v in entry.items() if k != "tiers"},
        "events": [str(e) for e in events],
        "currency": currency,
    }
    if "tiers" in entry:
        payload["price"]["tiers"] = [
            {k: (None if v is None else str(v)) for k, v in t.items()} for t in entry["tiers"]
        ]
    if entry["model"] != "percentage":
        payload["quantity"] = str(sum(events, Decimal(0)))

    result = quote(payload)

    assert all(isinstance(leaf, str | int | bool) or leaf is None for leaf in walk(result))
    assert not any(isinstance(leaf, float) for leaf in walk(result))
    assert result["amount_rounded"] == str(quantize_money(Decimal(result["amount"]), currency))
    assert "E" not in result["amount"]
