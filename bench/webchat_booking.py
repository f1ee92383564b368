"""Web chat booking latency, end to end: widget protocol -> service -> Rasa -> actions -> DB.

Starts the real product (`frontdesk run`) in a temporary folder, then measures:
  * 50 sequential booking turns (visit type, provider, free-text time, slot, identity...),
    each timed from sending the frame to the end of the bot's turn;
  * a baseline in the same run: 50 "hi" turns (Rasa rule + response, no custom action), and
    Rasa's bare NLU (`POST /model/parse`), so the figures can be read as ratios.

Usage: .venv/bin/python bench/webchat_booking.py [--turns 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.stack import ChatClient, Stack, buttons, running_stack

WHEN = ["next tue after 3", "monday morning", "friday afternoon", "next week", "asap"]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def timed(
    call: Callable[[], list[dict[str, object]]], into: list[float]
) -> list[dict[str, object]]:
    """Run one turn and record its latency in milliseconds."""
    started = time.perf_counter()
    frames = call()
    into.append((time.perf_counter() - started) * 1000)
    return frames


def booking_turns(stack: Stack, wanted: int) -> tuple[list[float], int]:
    """Book appointments turn by turn until `wanted` turns were measured."""
    latencies: list[float] = []
    booked = 0
    attempt = 0
    while len(latencies) < wanted:
        chat = stack.chat()
        try:
            booked += book_once(
                chat, WHEN[attempt % len(WHEN)], f"Bench Patient{attempt}", latencies, wanted
            )
        finally:
            chat.close()
        attempt += 1
    return latencies, booked


def book_once(chat: ChatClient, when: str, name: str, latencies: list[float], wanted: int) -> bool:
    """One booking conversation, six timed turns (fewer if `wanted` is reached)."""
    frames: list[dict[str, object]] = []
    steps: list[Callable[[list[dict[str, object]]], list[dict[str, object]]]] = [
        lambda _: chat.turn("I'd like to book an appointment"),
        lambda f: chat.turn("Sick visit", _payload(f, "Sick visit")),
        lambda _: chat.turn("no preference"),
        lambda _: chat.turn(when),
        lambda f: chat.turn("first", _first_slot(f)),
        lambda _: _identify(chat, name),
    ]
    for step in steps:
        if len(latencies) >= wanted:
            return False
        previous = frames
        frames = timed(lambda step=step, previous=previous: step(previous), latencies)
    return any("You're booked" in str(f.get("text")) for f in frames)


def _identify(chat: ChatClient, name: str) -> list[dict[str, object]]:
    chat.send({"type": "identity", "full_name": name, "date_of_birth": "1980-01-01"})
    return chat.collect_turn()


def _payload(frames: list[dict[str, object]], title: str) -> str | None:
    return next((b["payload"] for b in buttons(frames) if b["title"] == title), None)  # type: ignore[arg-type]


def _first_slot(frames: list[dict[str, object]]) -> str | None:
    offers = [b for b in buttons(frames) if b["title"] != "None of these"]  # type: ignore[arg-type]
    return offers[0]["payload"] if offers else None


def greet_turns(stack: Stack, wanted: int) -> list[float]:
    """Baseline: a rule-only turn through the same path."""
    latencies: list[float] = []
    while len(latencies) < wanted:
        chat = stack.chat()  # a fresh conversation every 10 turns stays under the rate limit
        try:
            for _ in range(min(10, wanted - len(latencies))):
                frames = timed(lambda chat=chat: chat.turn("hi"), latencies)
                assert any(f["type"] == "message" for f in frames), frames
        finally:
            chat.close()
    return latencies


def parse_only(stack: Stack, wanted: int) -> list[float]:
    """Baseline: Rasa NLU alone over HTTP."""
    token = stack.env["FRONTDESK_RASA_TOKEN"]
    url = stack.env["FRONTDESK_RASA_URL"] + "/model/parse"
    latencies: list[float] = []
    with httpx.Client() as client:
        for _ in range(wanted):
            started = time.perf_counter()
            client.post(
                url, params={"token": token}, json={"text": "next tue after 3"}
            ).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def report(name: str, values: list[float]) -> None:
    """Print one line of figures."""
    print(
        f"{name:<28} n={len(values):>3}  p50 {statistics.median(values):7.1f} ms  "
        f"p95 {percentile(values, 95):7.1f} ms  max {max(values):7.1f} ms"
    )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp)) as stack:
        greet_turns(stack, 5)  # warm-up: first turns load TensorFlow graphs
        booking, booked = booking_turns(stack, args.turns)
        greet = greet_turns(stack, args.turns)
        nlu = parse_only(stack, args.turns)
    print(f"\nweb chat booking, {args.turns} sequential turns ({booked} appointments booked)")
    report("booking turns", booking)
    report("baseline: 'hi' turns", greet)
    report("baseline: Rasa /model/parse", nlu)
    print(
        f"booking p50 / greet p50 = {statistics.median(booking) / statistics.median(greet):.2f}x; "
        f"booking p50 / NLU p50 = {statistics.median(booking) / statistics.median(nlu):.2f}x"
    )


if __name__ == "__main__":
    main()
