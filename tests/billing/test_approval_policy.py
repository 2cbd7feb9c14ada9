"""The approval policy (billing.governance.policy): rules over the backtest's metrics combine with
AND (all), OR (any) and NOT; the number of approvers is the largest of the matching rules, at least the
default; a malformed policy is refused with errors naming the rule and the field. No database."""

from __future__ import annotations

import json

import pytest

from billing.governance.policy import (
    Decision,
    condition_holds,
    policy_current,
    policy_decide,
    policy_validate,
)
from common.errors import ValidationFailed

BIG_OR_DECREASE = {
    "default_approvals": 1,
    "rules": [
        {
            "name": "big-or-decrease",
            "approvals": 2,
            "when": {
                "any": [
                    {"metric": "revenue_delta_pct_abs", "op": ">", "value": "5"},
                    {"metric": "any_price_decrease", "op": "==", "value": True},
                ]
            },
        }
    ],
}


def _metrics(**given):
    return {
        "revenue_delta_pct_abs": "0.00",
        "any_price_decrease": False,
        "any_price_increase": False,
        **given,
    }


@pytest.mark.parametrize(
    ("metrics", "required", "matched"),
    [
        (_metrics(), 1, ()),
        (_metrics(revenue_delta_pct_abs="5.00"), 1, ()),  # not over 5 %
        (_metrics(revenue_delta_pct_abs="5.01"), 2, ("big-or-decrease",)),
        (_metrics(any_price_decrease=True), 2, ("big-or-decrease",)),
        # no percentage (no closed period, all rows blocked, a zero bill): fail closed, the most approvers
        (_metrics(revenue_delta_pct_abs=None), 2, ("big-or-decrease",)),
    ],
)
def test_the_example_rule_asks_two_approvers_for_a_big_change_or_any_decrease(metrics, required, matched):
    assert policy_decide(metrics=metrics, policy=BIG_OR_DECREASE) == Decision(required, matched)


def test_all_needs_every_condition():
    when = {
        "all": [
            {"metric": "any_price_increase", "op": "==", "value": True},
            {"metric": "tenants_affected", "op": ">=", "value": 10},
        ]
    }

    assert condition_holds(when, {"any_price_increase": True, "tenants_affected": 10}) is True
    assert condition_holds(when, {"any_price_increase": True, "tenants_affected": 9}) is False
    assert condition_holds(when, {"any_price_increase": False, "tenants_affected": 99}) is False


def test_and_of_or_and_not_nest():
    # (increase AND NOT small) OR decrease
    when = {
        "any": [
            {
                "all": [
                    {"metric": "any_price_increase", "op": "==", "value": True},
                    {"not": {"metric": "max_tenant_change_pct_abs", "op": "<", "value": "1"}},
                ]
            },
            {"metric": "any_price_decrease", "op": "==", "value": True},
        ]
    }
    small_increase = {
        "any_price_increase": True,
        "max_tenant_change_pct_abs": "0.5",
        "any_price_decrease": False,
    }
    large_increase = {**small_increase, "max_tenant_change_pct_abs": "1.0"}
    decrease = {**small_increase, "any_price_increase": False, "any_price_decrease": True}

    assert [condition_holds(when, m) for m in (small_increase, large_increase, decrease)] == [
        False,
        True,
        True,
    ]


def test_the_largest_matching_rule_wins_and_every_match_is_named():
    policy = {
        "default_approvals": 1,
        "rules": [
            {
                "name": "any-change",
                "approvals": 2,
                "when": {"metric": "tenants_affected", "op": ">", "value": 0},
            },
            {
                "name": "huge",
                "approvals": 3,
                "when": {"metric": "revenue_delta", "op": "<=", "value": "-1000"},
            },
            {
                "name": "never",
                "approvals": 5,
                "when": {"metric": "tenants_affected", "op": ">", "value": 10**6},
            },
        ],
    }

    decision = policy_decide(metrics={"tenants_affected": 4, "revenue_delta": "-1000.00"}, policy=policy)

    assert decision == Decision(3, ("any-change", "huge"))


def test_the_default_is_a_floor():
    policy = {
        "default_approvals": 2,
        "rules": [
            {
                "name": "r",
                "approvals": 1,
                "when": {"not": {"all": [{"metric": "tenants_affected", "op": "==", "value": 1}]}},
            }
        ],
    }

    assert policy_decide(metrics={"tenants_affected": 3}, policy=policy) == Decision(2, ("r",))


def test_numbers_compare_as_decimals_not_text():
    when = {"metric": "revenue_delta_pct_abs", "op": ">", "value": "5"}

    assert condition_holds(when, {"revenue_delta_pct_abs": "10.00"}) is True  # "10.00" < "5" as text


def test_a_malformed_policy_is_refused_naming_the_rule_and_the_field():
    policy = {
        "default_approvals": 0,
        "rules": [
            {
                "name": "big",
                "approvals": 2,
                "when": {
                    "any": [
                        {"metric": "revenue_delta_pct_abs", "op": "=>", "value": 5.5},
                        {"metric": "revenue", "op": ">", "value": "1"},
                    ]
                },
            },
            {
                "name": "flag",
                "approvals": "two",
                "when": {"metric": "any_price_decrease", "op": ">", "value": "yes"},
            },
            {"approvals": 2, "when": {"all": []}},
        ],
        "extra": 1,
    }

    with pytest.raises(ValidationFailed) as caught:
        policy_validate(policy)

    assert [(i.field, i.message) for i in caught.value.issues] == [
        ("default_approvals", "must be a whole number from 1 to 10"),
        ("extra", "unknown field"),
        ("rules[0:big].when.any[0].op", "must be one of > >= < <= == !="),
        ("rules[0:big].when.any[0].value", "must be a number as a string or an integer (no float)"),
        (
            "rules[0:big].when.any[1].metric",
            "must be one of any_price_decrease, any_price_increase, blocked_rows, max_tenant_change_pct_abs, "
            "revenue_delta, revenue_delta_pct, revenue_delta_pct_abs, tenants_affected",
        ),
        ("rules[1:flag].approvals", "must be a whole number from 1 to 10"),
        ("rules[1:flag].when.value", "any_price_decrease is true or false"),
        ("rules[1:flag].when.op", "any_price_decrease compares with == or != only"),
        ("rules[2].name", "required: a non-empty string"),
        ("rules[2].when.all", "must be a non-empty list of conditions"),
    ]


def test_two_rules_may_not_share_a_name():
    rule = {"name": "same", "approvals": 2, "when": {"metric": "tenants_affected", "op": ">", "value": 1}}

    with pytest.raises(ValidationFailed) as caught:
        policy_validate({"rules": [rule, rule]})

    assert [(i.field, i.message) for i in caught.value.issues] == [
        ("rules[1:same].name", "another rule has this name")
    ]


def test_the_settings_policy_is_the_default(settings):
    settings.APPROVAL_POLICY, settings.APPROVAL_POLICY_FILE = BIG_OR_DECREASE, ""

    assert policy_current() == BIG_OR_DECREASE


def test_a_policy_file_replaces_the_settings_json_or_yaml(settings, tmp_path):
    settings.APPROVAL_POLICY = {"default_approvals": 1, "rules": []}
    as_json = tmp_path / "policy.json"
    as_json.write_text(json.dumps(BIG_OR_DECREASE))
    as_yaml = tmp_path / "policy.yaml"
    as_yaml.write_text(
        "default_approvals: 2\nrules:\n  - name: decrease\n    approvals: 3\n    when:\n"
        "      metric: any_price_decrease\n      op: '=='\n      value: true\n"
    )

    settings.APPROVAL_POLICY_FILE = str(as_json)
    assert policy_current() == BIG_OR_DECREASE
    settings.APPROVAL_POLICY_FILE = str(as_yaml)
    assert policy_decide(metrics={"any_price_decrease": True}) == Decision(3, ("decrease",))


def test_a_malformed_policy_file_is_refused_when_read(settings, tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"rules": [{"name": "x", "approvals": 2}]}))
    settings.APPROVAL_POLICY_FILE = str(path)

    with pytest.raises(ValidationFailed) as caught:
        policy_current()

    assert [(i.field, i.message) for i in caught.value.issues] == [
        ("rules[0:x].when", "required: a condition")
    ]


def test_an_unknown_metric_asks_for_the_most_approvers_any_rule_asks_for():
    policy = {
        "default_approvals": 1,
        "rules": [
            {
                "name": "big",
                "approvals": 2,
                "when": {"metric": "revenue_delta_pct_abs", "op": ">", "value": "5"},
            },
            {"name": "wide", "approvals": 3, "when": {"metric": "tenants_affected", "op": ">", "value": 100}},
        ],
    }
    nothing_priced = {"revenue_delta_pct_abs": None, "tenants_affected": 0, "blocked": 4}

    assert policy_decide(metrics=nothing_priced, policy=policy) == Decision(3, ("big",))
    assert policy_decide(metrics={}, policy=policy) == Decision(3, ("big", "wide"))


def test_blocked_rows_is_a_policy_metric_read_from_the_backtest_s_blocked_count():
    policy = {
        "default_approvals": 1,
        "rules": [
            {"name": "blocked", "approvals": 2, "when": {"metric": "blocked_rows", "op": ">", "value": 0}}
        ],
    }

    assert policy_validate(policy) == policy
    assert policy_decide(metrics={"blocked": 1}, policy=policy) == Decision(2, ("blocked",))
    assert policy_decide(metrics={"blocked": 0}, policy=policy) == Decision(1, ())
