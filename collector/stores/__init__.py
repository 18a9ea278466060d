"""Time-series stores: InfluxDB (v1-compatible HTTP API) and embedded SQLite."""
