"""warmnet: the shared contract every component imports.

Message models, topic names, the fleet registry, settings, clocks and the CLI.
Components (simulators, gateway, collector, api) import this package and nothing
of each other.
"""

__version__ = "0.1.0"
