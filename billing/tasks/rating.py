"""Rating tasks: nudged after ingest commits, plus the periodic sweeper."""
