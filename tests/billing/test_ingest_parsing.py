"""The canonical form of one event, pinned byte for byte: a stored event's payload hash must never change,
or a resent event would be answered `conflict` instead of `duplicate`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.usage.parsing import (
    TagLimits,
    canonical_tags,
    parse_quantity,
    parse_tags,
    parse_timestamp,
    payload_sha256,
    storable_text,
)

LIMITS = TagLimits(tags_max_keys=32, tag_key_max=64, tag_value_max=256)


def test_canonical_tags_sorts_keys_keeps_unicode_and_stores_decimals_as_text():
    tags = parse_tags({"z": "é✓", "a": 1, "m": True, "n": None, "d": Decimal("1.50"), "b": 'x"y'}, LIMITS)
    assert canonical_tags(tags) == '{"a":1,"b":"x\\"y","d":"1.50","m":true,"n":null,"z":"é✓"}'
    assert canonical_tags({}) == "{}"


def test_payload_hash_is_pinned():
    tags_json = canonical_tags(
        parse_tags({"z": "é✓", "a": 1, "m": True, "n": None, "d": Decimal("1.50"), "b": 'x"y'}, LIMITS)
    )
    sha = payload_sha256(
        tenant="acme",
        event_id="evt-1",
        sku="api_calls",
        timestamp=parse_timestamp("2026-11-02T10:00:00.123456+01:00"),
        quantity=parse_quantity("1.5"),
        project="web",
        tags_json=tags_json,
    )
    assert sha == "536726495edd7cafa68dbf8f7c5784a370461a3bb35f0a39d1b2da1af053ac81"
    sha = payload_sha256(
        tenant="acme",
        event_id="evt-1",
        sku="api_calls",
        timestamp=parse_timestamp("2026-11-02T09:00:00Z"),
        quantity=parse_quantity(7),
        project="",
        tags_json="{}",
    )
    assert sha == "668302a6fdba29bf5985cf8c2a6765fff2c693215e6101ccefde8bce39135fe6"


@pytest.mark.parametrize(
    ("value", "storable"),
    [("abc", True), ("", True), ("é", True), ("a\x00b", False), ("é\x00", False), ("\ud800", False)],
)
def test_storable_text(value, storable):
    assert storable_text(value) is storable
