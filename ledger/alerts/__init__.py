"""In-product alerts: the record's life cycle (services), reads (selectors) and notifications (notify).
docs/alerts.md."""
