"""Outbound webhooks of a tenant: endpoints, signed deliveries with retries, the delivery log, replay.
docs/webhooks.md. The models live in tenants.models; the alert side (what is sent, the dead letter's
alert) in ledger.alerts."""
