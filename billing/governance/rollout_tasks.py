"""Canary rollout tasks: the beat-scheduled guardrails check (settings.CELERY_BEAT_SCHEDULE
"rollout-guardrails", every ROLLOUT_GUARDRAILS_INTERVAL_SECONDS). Thin: one service call."""

from __future__ import annotations

from celery import shared_task

from billing.governance.rollouts import rollout_guardrails_check


@shared_task(name="billing.rollout_guardrails_check")
def rollout_guardrails_check_task() -> list[int]:
    """Halt every canary whose cohort breaches a guardrail (with an alert); the ids of those halted."""
    return [rollout.pk for rollout in rollout_guardrails_check()]
