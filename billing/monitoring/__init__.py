"""Evaluators of in-product alerts (issue 15, item 3; docs/alerts-evaluation.md): budgets and commitments
(budgets.py over projection.py), spend anomalies (anomalies.py over the pure detector detect.py) and the
pipeline's health (pipeline.py). Each fires and resolves alerts through ledger.alerts.services; beat runs
them (tasks.py)."""
