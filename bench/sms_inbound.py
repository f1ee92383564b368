"""Inbound SMS webhook: time from Twilio's POST to the stored-and-acknowledged answer.

Starts the service (real app, real HTTP, migrated SQLite or PostgreSQL; the bot is a no-op
because its turn runs after the acknowledgement) in its own process, then sends signed
Twilio webhooks: sequentially, then from 8 concurrent senders, then Twilio-style retries of
messages already received (they must be acknowledged without a second row).

Usage: .venv/bin/python bench/sms_inbound.py [--count 500] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, free_port, inbound_params, sign

ROOT = Path(__file__).resolve().parents[1]

PRACTICE_NUMBER = "+15555550199"


class NullBot:
    """Takes every turn and answers nothing (the bot runs after the acknowledgement)."""

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        return None

    async def has_user_turn(self, conversation_id: str, message_id: str) -> bool:
        return False

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> None:
        return None

    async def is_ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def serve(port: int, database_url: str, data_dir: str) -> None:
    """Child process: the service on `port`."""
    import uvicorn

    from frontdesk.app import create_app
    from frontdesk.clock import system_clock
    from frontdesk.db import make_engine, make_session_factory, session_scope
    from frontdesk.demo import seed_demo
    from frontdesk.migrate import upgrade
    from frontdesk.settings import Settings

    engine = make_engine(database_url)
    upgrade(engine)
    with session_scope(make_session_factory(engine, clock=system_clock)) as db:
        seed_demo(db)
    settings = Settings(
        env="test",
        data_dir=Path(data_dir),
        database_url=database_url,
        internal_token="bench-internal-token",
        rasa_token="bench-rasa-token",
        secret_key="bench-secret-key",
        public_url=f"http://127.0.0.1:{port}",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url="http://127.0.0.1:9",
        sms_worker_enabled=False,
        reminders_enabled=False,
    )
    app = create_app(settings, engine=engine, bot=NullBot())  # type: ignore[arg-type]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def post(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await client.post(
        url, data=params, headers={"X-Twilio-Signature": sign(url, params)}
    )
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    assert response.text.endswith("<Response></Response>")
    return elapsed


def report(name: str, latencies: list[float], wall: float) -> None:
    print(
        f"{name:<28} n={len(latencies):<5} p50 {statistics.median(latencies):6.1f} ms  "
        f"p95 {percentile(latencies, 95):6.1f} ms  max {max(latencies):6.1f} ms  "
        f"{len(latencies) / wall:6.0f} msg/s"
    )


async def measure(base: str, count: int) -> list[dict[str, str]]:
    url = f"{base}/webhooks/twilio/sms"
    sent: list[dict[str, str]] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for n in range(20):  # warm-up
            await post(
                client, url, inbound_params(body="hi", from_=f"+1555700{n:04d}", to=PRACTICE_NUMBER)
            )

        latencies = []
        started = time.perf_counter()
        for n in range(count):
            params = inbound_params(
                body=f"I'd like to book a physical next week ({n})",
                from_=f"+1555710{n % 200:04d}",
                to=PRACTICE_NUMBER,
            )
            sent.append(params)
            latencies.append(await post(client, url, params))
        report("sequential", latencies, time.perf_counter() - started)

        queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        for n in range(count * 2):
            queue.put_nowait(
                inbound_params(body=f"msg {n}", from_=f"+1555720{n % 400:04d}", to=PRACTICE_NUMBER)
            )
        concurrent: list[float] = []

        async def sender() -> None:
            while not queue.empty():
                params = queue.get_nowait()
                concurrent.append(await post(client, url, params))

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(8)))
        report("8 concurrent senders", concurrent, time.perf_counter() - started)

        retries = []
        started = time.perf_counter()
        for params in sent[:200]:
            retries.append(await post(client, url, params))
        report("Twilio retries (duplicates)", retries, time.perf_counter() - started)
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as folder:
        database_url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), database_url, folder], cwd=ROOT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the service did not start")
                time.sleep(0.2)
            print(f"database: {database_url.split(':')[0]}, service on {base}")
            asyncio.run(measure(base, args.count))
        finally:
            server.terminate()
            server.wait(15)
        from sqlalchemy import create_engine, func, select

        from frontdesk.sms.models import InboundSms

        engine = create_engine(database_url)
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(InboundSms)).scalar()
        engine.dispose()
        expected = 20 + args.count + 2 * args.count
        print(f"inbound rows stored: {stored} (expected {expected}: retries add none)")


if __name__ == "__main__":
    main()
