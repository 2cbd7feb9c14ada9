"""The billing REST API (DRF views under /api/v1/): usage ingest and summary, quotes. Views parse and
authenticate, then call one service or selector; domain errors become responses in `common.api`."""
