"""CI-style check of the sample `profiles/` folder (`manage.py profiles validate profiles/` exits 0), and
a broken folder's errors: each addressed to its file and field, and a non-zero exit."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from billing.catalog.models import Meter
from billing.catalog.services import meter_upsert, sku_upsert
from billing.demo import METERS, SKUS

pytestmark = pytest.mark.django_db

FOLDER = Path(__file__).resolve().parents[2] / "profiles"


@pytest.fixture(autouse=True)
def demo_catalog() -> None:
    """The demo's meters and SKUs, which the sample profiles price."""
    for code, name, unit, aggregation, tag in METERS:
        meter_upsert(code=code, name=name, unit=unit, aggregation=aggregation, unique_tag=tag)
    meters = {m.code: m for m in Meter.objects.all()}
    for code, name, meter, label, category in SKUS:
        sku_upsert(code=code, name=name, meter=meters[meter], unit_label=label, service_category=category)


def _validate(folder: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("profiles", "validate", str(folder), stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "profiles"
    shutil.copytree(FOLDER, target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_the_sample_profiles_folder_validates():
    code, out, err = _validate(FOLDER)

    assert (code, out.strip(), err) == (0, "OK: 3 profiles", "")
    assert sorted(p.name for p in FOLDER.glob("*.yaml")) == [
        "cloud-standard-eur.yaml",
        "growth-usd.yaml",
        "tokyo-jpy.yaml",
    ]


def test_a_broken_file_is_reported_at_its_field_and_exits_2(tmp_path):
    folder = _copy(tmp_path)

    def lower_tier(data):
        data["prices"][0]["tiers"][1]["up_to"] = "900"  # below the first tier's 1000

    _edit(folder / "cloud-standard-eur.yaml", lower_tier)

    code, out, err = _validate(folder)

    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "cloud-standard-eur.yaml: prices[0].tiers[1].up_to: must be greater than 1000"
    ]


def test_every_error_of_every_file_is_listed(tmp_path):
    folder = _copy(tmp_path)

    def several(data):
        del data["metadata"]["name"]
        data["prices"][0]["unit_amount"] = 0.5  # a float
        data["currency"] = "XXQ"

    _edit(folder / "growth-usd.yaml", several)
    _edit(
        folder / "tokyo-jpy.yaml",
        lambda data: data["prices"].append({"sku": "nope", "model": "flat", "amount": "1"}),
    )

    code, _out, err = _validate(folder)

    assert code == 2
    assert err.splitlines() == [
        "growth-usd.yaml: metadata.name: is required: a non-empty string",
        "growth-usd.yaml: currency: 'XXQ' is not an ISO 4217 currency code",
        'growth-usd.yaml: prices[0].unit_amount: must be a decimal string such as "0.5", not a float',
        "tokyo-jpy.yaml: prices[9].sku: unknown sku 'nope'",
    ]


def test_metadata_must_name_the_profile_and_codes_are_unique(tmp_path):
    folder = _copy(tmp_path)
    shutil.copy(folder / "growth-usd.yaml", folder / "zz-copy.yaml")
    _edit(folder / "tokyo-jpy.yaml", lambda data: data["metadata"].update(code="tokyo", colour="red"))

    code, _out, err = _validate(folder)

    assert code == 2
    assert err.splitlines() == [
        "tokyo-jpy.yaml: metadata.colour: unknown key",
        "tokyo-jpy.yaml: profile: must be the metadata's code 'tokyo'",
        "zz-copy.yaml: metadata.code: 'growth-usd' is also in growth-usd.yaml",
    ]


def test_a_file_that_is_not_yaml_is_reported_with_its_line(tmp_path):
    folder = _copy(tmp_path)
    (folder / "bad.yaml").write_text("metadata:\n  code: [unclosed\n", encoding="utf-8")

    code, _out, err = _validate(folder)

    assert code == 2
    assert err.splitlines()[0].startswith("bad.yaml: line 3: is not valid YAML: ")
