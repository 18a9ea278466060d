"""The MQTT broker warmnet runs: mosquitto's settings (persistence, no silent queue
limits) and the embedded amqtt broker of the demo."""

from broker.embedded import run_amqtt
from broker.mosquitto import AUTOSAVE_INTERVAL_S, find_mosquitto, mosquitto_config

__all__ = ["AUTOSAVE_INTERVAL_S", "find_mosquitto", "mosquitto_config", "run_amqtt"]
