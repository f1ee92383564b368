"""Rasa's callback output retries a bot message the service did not take (found by
`make test-scale`: a replica killed during a callback made HAProxy answer 502, and Rasa's own
output dropped the reply while the turn counted as done)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from frontdesk.botctl import RASA_CHANNELS_DIR
from frontdesk.settings import Settings

# Run inside Rasa's own environment, importing the channel module as `rasa run` does. A
# real HTTP server plays the service: it fails the first two posts with 502, then takes
# them; a second path refuses with 401 (a bad token: never retried).
CHECK = r"""
import asyncio, json
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig
import frontdesk_callback

frontdesk_callback.RETRY_DELAYS = (0.01, 0.01, 0.01, 0.01, 0.01)
seen = {"flaky": [], "refusing": []}

async def flaky(request):
    seen["flaky"].append(await request.json())
    return web.Response(status=502 if len(seen["flaky"]) <= 2 else 200)

async def refusing(request):
    seen["refusing"].append(await request.json())
    return web.Response(status=401)

async def main():
    app = web.Application()
    app.router.add_post("/flaky", flaky)
    app.router.add_post("/refusing", refusing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    for path in ("flaky", "refusing"):
        channel = frontdesk_callback.MetadataCallbackInput(
            EndpointConfig(f"http://127.0.0.1:{port}/{path}")
        )
        await channel.get_output_channel().send_text_message("c_1", "hello")
    down = frontdesk_callback.MetadataCallbackInput(EndpointConfig("http://127.0.0.1:9/x"))
    await down.get_output_channel().send_text_message("c_1", "hello")  # nobody: gives up
    await runner.cleanup()
    print(json.dumps({k: len(v) for k, v in seen.items()}))

asyncio.run(main())
"""


@pytest.mark.rasa
def test_a_failed_callback_is_retried_and_a_refused_one_is_not() -> None:
    python = Settings(_env_file=None, env="development").rasa_venv / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(RASA_CHANNELS_DIR), "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run(
        [str(python), "-c", CHECK], env=env, capture_output=True, text=True, check=True,
        timeout=120,
    )  # fmt: skip
    posts = json.loads(result.stdout.strip().splitlines()[-1])
    assert posts == {"flaky": 3, "refusing": 1}  # two 502s, then taken; 401 once
