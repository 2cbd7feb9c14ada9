"""Operator and demo commands for billing (`manage.py close_period`, `profiles`, `quote`, `seed_demo`, ...).
Thin shells over the services, so a command and the API doing the same job behave alike."""
