"""The portal: server-rendered pages for customers and finance. It sits on top of the dependency
order (portal -> billing -> ledger -> tenants) and holds no business rules: pages call services and
selectors."""
