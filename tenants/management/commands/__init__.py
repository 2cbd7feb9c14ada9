"""Operator commands for tenants (`manage.py create_api_key`): thin shells over the tenants services,
printing their result on the last line so they can be scripted."""
