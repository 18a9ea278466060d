"""Real servers for tests and benchmarks: mosquitto and influxd started on free loopback
ports in temporary directories (`testbed.services`), plus reference implementations the
tests and benches compare the product against."""
