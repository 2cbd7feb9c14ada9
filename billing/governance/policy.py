"""The approval policy: how many approvers a price change needs, written in the settings
(`APPROVAL_POLICY`) or in a JSON/YAML document (`APPROVAL_POLICY_FILE`), never in code. docs/approvals.md.

    {"default_approvals": 1,
     "rules": [{"name": "big-or-decrease", "approvals": 2,
                "when": {"any": [{"metric": "revenue_delta_pct_abs", "op": ">", "value": "5"},
                                 {"metric": "any_price_decrease", "op": "==", "value": true}]}}]}

`when` nests {"all": [...]} (AND), {"any": [...]} (OR), {"not": {...}} and leaves {metric, op, value}.
Metrics come from the backtest summary (billing.governance.backtest). A number metric compares as a
Decimal (its value a string or an integer, never a float); a boolean metric takes == and != only.
`blocked_rows` is the backtest's count of tenant periods it could not price (its summary's `blocked`).

The number of approvers is the largest `approvals` of the matching rules, at least `default_approvals`.
The policy fails closed: when a metric some rule reads is unknown (None or missing: no closed period to
backtest, every row blocked, a percentage from a zero bill), the change needs the most approvers any rule
asks for, and the rules reading it are listed among the matched ones."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from common.errors import FieldIssue, ValidationFailed

NUMBER_METRICS = frozenset(
    {
        "revenue_delta_pct_abs",
        "revenue_delta",
        "revenue_delta_pct",
        "max_tenant_change_pct_abs",
        "tenants_affected",
        "blocked_rows",
    }
)
BOOLEAN_METRICS = frozenset({"any_price_decrease", "any_price_increase"})
METRICS = NUMBER_METRICS | BOOLEAN_METRICS
OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
MAX_APPROVALS = 10


@dataclass(frozen=True)
class Decision:
    required_approvals: int
    matched_rules: tuple[str, ...]


def policy_validate(policy: Any) -> dict[str, Any]:
    """`policy` itself when it is a well-formed policy document; else ValidationFailed with one issue per
    error, each naming the rule and the field (`rules[0:big-or-decrease].when.any[1].op`)."""
    issues: list[FieldIssue] = []
    if not isinstance(policy, Mapping):
        raise ValidationFailed("invalid approval policy", issues=[FieldIssue("policy", "must be an object")])
    default = policy.get("default_approvals", 1)
    if not _count_ok(default):
        issues.append(FieldIssue("default_approvals", f"must be a whole number from 1 to {MAX_APPROVALS}"))
    for key in sorted(set(policy) - {"default_approvals", "rules"}):
        issues.append(FieldIssue(str(key), "unknown field"))
    rules = policy.get("rules", [])
    if not isinstance(rules, list):
        issues.append(FieldIssue("rules", "must be a list"))
        rules = []
    names: set[str] = set()
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            issues.append(FieldIssue(f"rules[{i}]", "must be an object with name, approvals and when"))
            continue
        name = rule.get("name")
        where = f"rules[{i}:{name}]" if isinstance(name, str) and name else f"rules[{i}]"
        if not isinstance(name, str) or not name.strip():
            issues.append(FieldIssue(f"{where}.name", "required: a non-empty string"))
        elif name in names:
            issues.append(FieldIssue(f"{where}.name", "another rule has this name"))
        else:
            names.add(name)
        if not _count_ok(rule.get("approvals")):
            issues.append(
                FieldIssue(f"{where}.approvals", f"must be a whole number from 1 to {MAX_APPROVALS}")
            )
        for key in sorted(set(rule) - {"name", "approvals", "when", "description"}):
            issues.append(FieldIssue(f"{where}.{key}", "unknown field"))
        if "when" not in rule:
            issues.append(FieldIssue(f"{where}.when", "required: a condition"))
        else:
            issues.extend(_condition_issues(rule["when"], f"{where}.when"))
    if issues:
        raise ValidationFailed("invalid approval policy", issues=issues)
    return dict(policy)


def _count_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_APPROVALS


def _condition_issues(node: Any, where: str) -> list[FieldIssue]:
    if not isinstance(node, Mapping):
        return [FieldIssue(where, "must be an object: all, any, not, or a metric comparison")]
    combinators = [k for k in ("all", "any", "not") if k in node]
    if combinators:
        if len(node) != 1:
            return [FieldIssue(where, f"{combinators[0]} must be the only key of its object")]
        key = combinators[0]
        child = node[key]
        if key == "not":
            return _condition_issues(child, f"{where}.not")
        if not isinstance(child, list) or not child:
            return [FieldIssue(f"{where}.{key}", "must be a non-empty list of conditions")]
        return [issue for j, c in enumerate(child) for issue in _condition_issues(c, f"{where}.{key}[{j}]")]
    issues: list[FieldIssue] = []
    for key in sorted(set(node) - {"metric", "op", "value"}):
        issues.append(FieldIssue(f"{where}.{key}", "unknown field"))
    metric, op, value = node.get("metric"), node.get("op"), node.get("value")
    if metric not in METRICS:
        issues.append(FieldIssue(f"{where}.metric", f"must be one of {', '.join(sorted(METRICS))}"))
    if op not in OPS:
        issues.append(FieldIssue(f"{where}.op", f"must be one of {' '.join(OPS)}"))
    if "value" not in node:
        issues.append(FieldIssue(f"{where}.value", "required"))
    elif metric in BOOLEAN_METRICS:
        if not isinstance(value, bool):
            issues.append(FieldIssue(f"{where}.value", f"{metric} is true or false"))
        if op not in ("==", "!="):
            issues.append(FieldIssue(f"{where}.op", f"{metric} compares with == or != only"))
    elif metric in NUMBER_METRICS and _number(value) is None:
        issues.append(FieldIssue(f"{where}.value", "must be a number as a string or an integer (no float)"))
    return issues


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def condition_metrics(node: Mapping[str, Any]) -> set[str]:
    """The metrics a validated condition reads."""
    if "all" in node or "any" in node:
        return {m for c in node.get("all", node.get("any", [])) for m in condition_metrics(c)}
    if "not" in node:
        return condition_metrics(node["not"])
    return {str(node["metric"])}


def policy_metrics(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics the policy reads from a backtest summary: the summary's, and `blocked_rows`."""
    return {**summary, "blocked_rows": summary.get("blocked")}


def condition_holds(node: Mapping[str, Any], metrics: Mapping[str, Any]) -> bool:
    """Evaluate a validated condition over `metrics` (the backtest summary). An unknown metric (None)
    matches no comparison here; policy_decide fails closed on it."""
    if "all" in node:
        return all(condition_holds(c, metrics) for c in node["all"])
    if "any" in node:
        return any(condition_holds(c, metrics) for c in node["any"])
    if "not" in node:
        return not condition_holds(node["not"], metrics)
    metric, op, value = node["metric"], node["op"], node["value"]
    actual = metrics.get(metric)
    if actual is None:
        return False
    if metric in BOOLEAN_METRICS:
        return bool(OPS[op](bool(actual), value))
    left, right = _number(actual), _number(value)
    if left is None or right is None:
        return False
    return bool(OPS[op](left, right))


def policy_decide(*, metrics: Mapping[str, Any], policy: Mapping[str, Any] | None = None) -> Decision:
    """How many approvals a change with these metrics needs, and which rules asked for them."""
    checked = policy_validate(policy if policy is not None else policy_current())
    known = policy_metrics(metrics)
    rules = list(checked.get("rules", []))
    unknown = [rule for rule in rules if any(known.get(m) is None for m in condition_metrics(rule["when"]))]
    matched = [rule for rule in rules if rule in unknown or condition_holds(rule["when"], known)]
    asking = rules if unknown else matched  # fail closed: the most approvers any rule asks for
    required = max([int(checked.get("default_approvals", 1))] + [int(rule["approvals"]) for rule in asking])
    return Decision(required_approvals=required, matched_rules=tuple(str(rule["name"]) for rule in matched))


def policy_current() -> dict[str, Any]:
    """The policy in force: the document at settings.APPROVAL_POLICY_FILE (JSON, or YAML by its suffix)
    when set, else settings.APPROVAL_POLICY. Validated."""
    path = str(getattr(settings, "APPROVAL_POLICY_FILE", "") or "")
    if path:
        text = Path(path).read_text(encoding="utf-8")
        loaded = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)
        return policy_validate(loaded)
    return policy_validate(settings.APPROVAL_POLICY)
