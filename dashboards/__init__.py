"""Grafana dashboards as code: ``python -m dashboards`` prints them, ``--write`` updates the JSON files."""
