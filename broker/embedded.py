"""The embedded MQTT broker for `warmnet demo`: amqtt (pure Python, pip-installed), so
the demo needs no root and no installed servers. Where a `mosquitto` binary is available
the demo prefers it (much faster, on-disk persistence)."""

import asyncio
import logging
import threading

log = logging.getLogger(__name__)


def run_amqtt(host: str, port: int, stop: threading.Event) -> None:
    """Run an amqtt broker until `stop` is set (blocks)."""
    from amqtt.broker import Broker  # imported here: heavy, and only the demo needs it

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }

    async def main() -> None:
        broker = Broker(config)
        await broker.start()
        log.info("embedded amqtt broker listening", extra={"bind": f"{host}:{port}"})
        while not stop.is_set():
            await asyncio.sleep(0.2)
        await broker.shutdown()

    asyncio.run(main())
