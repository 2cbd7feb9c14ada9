"""Observability: the scrape-time collector (collector.py) and the finance dashboards' selectors
(dashboards_*.py, with the pure forecast arithmetic in forecast.py)."""
