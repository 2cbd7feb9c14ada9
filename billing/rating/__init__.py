"""Rating: pending usage -> hourly aggregates priced by the version in force, running estimates, and the
nudge and sweeper that keep it moving."""
