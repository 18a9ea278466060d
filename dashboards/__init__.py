"""dashboards: see README.md in this folder."""
