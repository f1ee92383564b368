"""Bot messages reach the service's callback even when a post fails for a moment.

Runs our callback channel's output inside Rasa's own environment (as `rasa run` imports it)
against a real HTTP server in that process that answers as a restarting service would.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from frontdesk.botctl import RASA_CHANNELS_DIR
from frontdesk.settings import Settings

CHECK = r"""
import asyncio, json, logging
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig
import frontdesk_callback
from callback_output import RetryingCallbackOutput

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
script = {"flaky": [503, 502, 200], "refusing": [401, 200], "down": [503] * 10}
seen = {name: [] for name in script}

async def handle(request):
    name = request.match_info["name"]
    seen[name].append(await request.json())
    return web.Response(status=script[name][len(seen[name]) - 1], text="{}")

async def main():
    app = web.Application()
    app.router.add_post("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    channel = frontdesk_callback.MetadataCallbackInput(EndpointConfig(f"http://127.0.0.1:{port}/x"))
    kinds = {"output": type(channel.get_output_channel()).__name__}
    results = {}
    for name in [*script, "unreachable"]:
        url = f"http://127.0.0.1:{port}/{name}" if name != "unreachable" else "http://127.0.0.1:9/x"
        output = RetryingCallbackOutput(EndpointConfig(url))
        output.delays = (0.01, 0.01, 0.01)
        await output.send_text_message("conv-1", "Your visit is booked.")
        results[name] = {"kept": len(output.messages)}
    await runner.cleanup()
    print(json.dumps({**kinds, "results": results, "posts": {k: len(v) for k, v in seen.items()},
                      "bodies": seen["flaky"]}))

asyncio.run(main())
"""


@pytest.mark.rasa
def test_a_bot_message_is_posted_again_until_the_service_takes_it() -> None:
    python = Settings(_env_file=None, env="development").rasa_venv / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(RASA_CHANNELS_DIR), "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run(
        [str(python), "-c", CHECK], env=env, capture_output=True, text=True, check=True,
        timeout=120,
    )  # fmt: skip
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["output"] == "RetryingCallbackOutput"  # what the channel answers with
    # 503, 502, then taken: three posts of the same message, and it was delivered.
    assert seen["posts"]["flaky"] == 3
    assert seen["bodies"] == [{"recipient_id": "conv-1", "text": "Your visit is booked."}] * 3
    # 401 is not something a retry fixes: one post, no retry.
    assert seen["posts"]["refusing"] == 1
    # Still failing after every retry: four posts (1 + 3 delays), then it gives up, logged.
    assert seen["posts"]["down"] == 4
    assert all(r == {"kept": 1} for r in seen["results"].values())  # the turn carried on
    logs = result.stderr
    assert "callback for conv-1 delivered on try 3" in logs
    assert "callback for conv-1 refused (401); not retried" in logs
    assert "callback for conv-1 failed 4 times (503); bot message not delivered" in logs
    assert "callback for conv-1 failed 4 times (ClientConnectorError)" in logs
    assert "Your visit is booked" not in logs  # message text never logged
