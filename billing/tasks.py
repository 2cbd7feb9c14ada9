"""Celery discovers `billing.tasks`: the tasks live in the domain packages that own them. Tasks are thin:
load by id, call one service."""

from billing.close import tasks as close
from billing.governance import approval_tasks as approvals
from billing.governance import rollout_tasks as rollouts
from billing.monitoring import tasks as monitoring
from billing.observability import tasks as observability
from billing.rating import tasks as rating
from billing.reconciliation import tasks as reconciliation

__all__ = ["approvals", "close", "monitoring", "observability", "rating", "reconciliation", "rollouts"]
