"""Scenario files (one YAML per scenario), loaded with `simulators.scenario.load_scenario`."""
