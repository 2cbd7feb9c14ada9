"""Helpers shared by every app and owned by none: money (ISO 4217 exponents, the one rounding
helper), billing periods, domain errors and their HTTP mapping. Kept free of app imports so any app can
use them without a dependency cycle."""
