"""Chargeback and showback: versioned allocation rules (billing/allocation/models.py) and their four-eyes
approvals. The guards are frozen SQL here: a rule version is inserted as a bare draft, its rule, number and
author never change, its body, hash and effective period never change once out of draft, a rejected or
superseded version is final, and only a draft is deleted; approvals are append-only and never by the
version's author."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

GUARDS = r"""
CREATE OR REPLACE FUNCTION billing_allocationversion_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'allocation rule version % is %: only a draft is deleted', OLD.id, OLD.status;
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' OR NEW.decided_by_id IS NOT NULL OR NEW.submitted_at IS NOT NULL THEN
            RAISE EXCEPTION 'an allocation rule version is inserted as a bare draft';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.rule_id <> OLD.rule_id OR NEW.number <> OLD.number OR NEW.author_id <> OLD.author_id THEN
        RAISE EXCEPTION 'allocation rule version %: rule, number and author never change', OLD.id;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.body IS DISTINCT FROM OLD.body OR NEW.body_sha256 <> OLD.body_sha256
            OR NEW.effective_from <> OLD.effective_from) THEN
        RAISE EXCEPTION 'allocation rule version % is %: its body and effective period never change', OLD.id, OLD.status;
    END IF;
    IF OLD.status IN ('rejected', 'superseded') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'allocation rule version % is %: final', OLD.id, OLD.status;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS billing_allocationversion_guard ON billing_allocationruleversion;
CREATE TRIGGER billing_allocationversion_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_allocationruleversion
    FOR EACH ROW EXECUTE FUNCTION billing_allocationversion_guard();

CREATE OR REPLACE FUNCTION billing_allocationapproval_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'allocation approvals are append-only';
    END IF;
    IF EXISTS (SELECT 1 FROM billing_allocationruleversion v
               WHERE v.id = NEW.version_id AND v.author_id = NEW.approver_id) THEN
        RAISE EXCEPTION 'the author of an allocation rule version cannot approve it';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS billing_allocationapproval_guard ON billing_allocationapproval;
CREATE TRIGGER billing_allocationapproval_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_allocationapproval
    FOR EACH ROW EXECUTE FUNCTION billing_allocationapproval_guard();
"""

GUARDS_REVERSE = r"""
DROP TRIGGER IF EXISTS billing_allocationapproval_guard ON billing_allocationapproval;
DROP FUNCTION IF EXISTS billing_allocationapproval_guard();
DROP TRIGGER IF EXISTS billing_allocationversion_guard ON billing_allocationruleversion;
DROP FUNCTION IF EXISTS billing_allocationversion_guard();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0021_monitoring"),
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AllocationRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.SlugField(max_length=64)),
                ("name", models.CharField(max_length=200)),
                ("created_at", models.DateTimeField()),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.tenant"
                    ),
                ),
            ],
            options={
                "ordering": ["tenant_id", "code"],
            },
        ),
        migrations.CreateModel(
            name="AllocationRuleVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveIntegerField()),
                ("body", models.JSONField(help_text="source, method, targets (billing.allocation.spec)")),
                ("body_sha256", models.CharField(max_length=64)),
                (
                    "effective_from",
                    models.CharField(help_text="first period key it applies to, e.g. 2026-11", max_length=16),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("pending_approval", "Pending approval"),
                            ("approved", "Approved"),
                            ("superseded", "Superseded"),
                            ("rejected", "Rejected"),
                        ],
                        default="draft",
                        max_length=20,
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                ("required_approvals", models.PositiveSmallIntegerField(default=1)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("decision_note", models.TextField(blank=True)),
                (
                    "author",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="versions",
                        to="billing.allocationrule",
                    ),
                ),
            ],
            options={
                "ordering": ["rule_id", "-number"],
            },
        ),
        migrations.CreateModel(
            name="AllocationApproval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("approved_at", models.DateTimeField()),
                ("note", models.TextField(blank=True)),
                (
                    "approver",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="approvals",
                        to="billing.allocationruleversion",
                    ),
                ),
            ],
            options={
                "ordering": ["version_id", "approved_at", "id"],
            },
        ),
        migrations.AddConstraint(
            model_name="allocationrule",
            constraint=models.UniqueConstraint(fields=("tenant", "code"), name="allocationrule_code"),
        ),
        migrations.AddConstraint(
            model_name="allocationruleversion",
            constraint=models.UniqueConstraint(fields=("rule", "number"), name="allocationversion_number"),
        ),
        migrations.AddConstraint(
            model_name="allocationruleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("decided_by__isnull", True),
                    models.Q(("decided_by", models.F("author")), _negated=True),
                    _connector="OR",
                ),
                name="allocationversion_four_eyes",
            ),
        ),
        migrations.AddConstraint(
            model_name="allocationruleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("effective_from__regex", "^[0-9]{4}-[0-9]{2}$")),
                name="allocationversion_period",
            ),
        ),
        migrations.AddConstraint(
            model_name="allocationruleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("required_approvals__gte", 1)), name="allocationversion_required"
            ),
        ),
        migrations.AddConstraint(
            model_name="allocationruleversion",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "approved")),
                fields=("rule", "effective_from"),
                name="allocationversion_one_approved_per_start",
            ),
        ),
        migrations.AddConstraint(
            model_name="allocationapproval",
            constraint=models.UniqueConstraint(
                fields=("version", "approver"), name="allocationapproval_once"
            ),
        ),
        migrations.RunSQL(GUARDS, GUARDS_REVERSE),
    ]
