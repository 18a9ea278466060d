"""Device simulators: behaviour models of station devices and a runner that publishes
their telemetry like a station gateway would. See simulators/README.md."""
