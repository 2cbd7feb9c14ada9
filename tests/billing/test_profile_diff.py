"""billing.profiles.diff: what a new profile body changes, per price and as text (no database)."""

from __future__ import annotations

import copy
from typing import Any

from billing.profiles.diff import FieldChange, body_yaml, profile_body_diff


def _body() -> dict[str, Any]:
    return {
        "profile": "acme",
        "currency": "EUR",
        "billing_cycle": "monthly",
        "tax": {"mode": "exclusive"},
        "prices": [
            {"sku": "api_calls", "model": "per_unit", "unit_amount": "0.10"},
            {
                "sku": "storage",
                "model": "graduated",
                "tiers": [{"up_to": "1000", "unit_amount": "0.05"}, {"up_to": None, "unit_amount": "0.04"}],
            },
            {"sku": "support", "model": "flat", "amount": "49.00"},
        ],
        "discounts": [{"code": "loyal", "percent": "5"}],
        "commitments": {"minimum_spend": "50.00"},
    }


def test_an_identical_body_changes_nothing():
    diff = profile_body_diff(old=_body(), new=_body())

    assert (diff.prices, diff.discounts, diff.settings, diff.text, diff.unchanged) == ((), (), (), "", True)
    assert (diff.any_increase, diff.any_decrease) == (False, False)


def test_amounts_compare_by_value():
    new = _body()
    new["prices"][0]["unit_amount"] = "0.1"

    diff = profile_body_diff(old=_body(), new=new)

    assert diff.prices == ()
    assert diff.text != ""  # the text shows the spelling changed


def test_it_lists_changed_tier_fields_with_old_and_new_values():
    new = _body()
    new["prices"][1]["tiers"][1]["unit_amount"] = "0.03"
    new["prices"][1]["tiers"][0]["up_to"] = "2000"

    (change,) = profile_body_diff(old=_body(), new=new).prices

    assert (change.key, change.change) == ("storage", "changed")
    assert change.fields == (
        FieldChange("tiers[0].up_to", "1000", "2000"),
        FieldChange("tiers[1].unit_amount", "0.04", "0.03"),
    )
    assert [f.kind for f in change.fields] == ["changed", "changed"]


def test_it_lists_added_and_removed_prices_and_fields():
    new = _body()
    del new["prices"][2]
    new["prices"].append({"sku": "gpu", "model": "per_unit", "unit_amount": "1.20"})
    new["prices"][0]["free_units"] = "100"

    diff = profile_body_diff(old=_body(), new=new)

    assert [(p.key, p.change, p.fields) for p in diff.prices] == [
        ("api_calls", "changed", (FieldChange("free_units", None, "100"),)),
        ("support", "removed", (FieldChange("model", "flat", None), FieldChange("amount", "49.00", None))),
        ("gpu", "added", (FieldChange("model", None, "per_unit"), FieldChange("unit_amount", None, "1.20"))),
    ]
    assert [f.kind for f in diff.prices[0].fields] == ["added"]


def test_discounts_by_code_and_other_settings():
    new = _body()
    new["discounts"][0]["percent"] = "10"
    new["commitments"]["minimum_spend"] = "75.00"
    new["tax"]["mode"] = "inclusive"

    diff = profile_body_diff(old=_body(), new=new)

    assert [(d.key, d.change, d.fields) for d in diff.discounts] == [
        ("loyal", "changed", (FieldChange("percent", "5", "10"),))
    ]
    assert diff.settings == (
        FieldChange("tax.mode", "exclusive", "inclusive"),
        FieldChange("commitments.minimum_spend", "50.00", "75.00"),
    )


def test_the_text_diff_is_a_unified_diff_of_the_yaml():
    new = _body()
    new["prices"][0]["unit_amount"] = "0.12"

    text = profile_body_diff(old=_body(), new=new).text

    assert text.splitlines()[:2] == ["--- in force", "+++ draft"]
    assert "-  unit_amount: '0.10'" in text.splitlines()
    assert "+  unit_amount: '0.12'" in text.splitlines()


def test_the_yaml_puts_the_reading_keys_first():
    lines = body_yaml(_body()).splitlines()

    assert lines[:4] == ["profile: acme", "currency: EUR", "billing_cycle: monthly", "tax:"]
    assert lines[6:9] == ["- sku: api_calls", "  model: per_unit", "  unit_amount: '0.10'"]
    assert "  - up_to: '1000'" in lines


def _moves(change) -> tuple[bool, bool]:
    new = copy.deepcopy(_body())
    change(new)
    diff = profile_body_diff(old=_body(), new=new)
    return diff.any_increase, diff.any_decrease


def test_the_direction_of_a_change():
    def set_(path: tuple[str | int, ...], value: Any):
        def change(body: dict[str, Any]) -> None:
            target: Any = body
            *parents, leaf = path
            for part in parents:
                target = target[part]
            target[leaf] = value

        return change

    # (increase, decrease)
    assert _moves(set_(("prices", 0, "unit_amount"), "0.11")) == (True, False)
    assert _moves(set_(("prices", 0, "unit_amount"), "0.09")) == (False, True)
    assert _moves(set_(("prices", 0, "free_units"), "10")) == (False, True)
    assert _moves(set_(("prices", 1, "tiers", 0, "up_to"), "500")) == (True, True)  # depends on the usage
    assert _moves(set_(("prices", 2, "amount"), "59.00")) == (True, False)
    assert _moves(set_(("commitments", "minimum_spend"), "40.00")) == (False, True)
    assert _moves(lambda b: b["prices"].append({"sku": "gpu", "model": "flat", "amount": "1"})) == (
        True,
        False,
    )
    assert _moves(lambda b: b["prices"].pop()) == (False, True)
    assert _moves(lambda b: b["discounts"].pop()) == (True, False)
    assert _moves(lambda b: b["discounts"].append({"code": "new", "percent": "3"})) == (False, True)
