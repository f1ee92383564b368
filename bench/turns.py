"""Turn throughput: 20 concurrent conversations through the service versus straight to Rasa.

Starts the real product (`frontdesk run`: trained Rasa model, the action server inside the
service, the service) in a temporary folder, then in ONE run, in alternating rounds:
  * service path: each conversation is a web chat socket (the widget's protocol), every turn
    timed from sending the frame to the end of the bot's turn (typing indicator off), so it
    covers the durable turn queue, Rasa, the action calls and the callback's store-and-push;
  * direct path: the same turns POSTed to Rasa's callback channel (`/webhooks/callback/webhook`,
    which answers once the whole turn, actions and callbacks included, has run) under sender
    ids the service does not know, so its callback drops them after one lookup.

It prints p50/p95 per path and their ratio (goal <= 1.15), turns/s per path and their ratio
(goal >= 0.85), the CPU seconds each process spent per turn (read from /proc, so the split
between Rasa and the service needs no profiler), and the load average during the run. The
machine is shared: other work running at the same time lowers every figure.

Each web chat socket connects from its own loopback address (127.0.0.N), because the service
limits open sockets and new conversations per client address.

Usage: .venv/bin/python bench/turns.py [--conversations 20] [--rounds 2] [--turn-workers N]
(`--turn-workers` sets FRONTDESK_TURN_WORKERS, how many turns the service has with Rasa at
once; by default the service's own default.)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.stack import ChatClient, Stack, running_stack

# Everyday turns: a greeting, a question the knowledge base answers, the start of a booking
# (form and custom actions), leaving it, and a goodbye.
TURNS = [
    "hi",
    "what are your opening hours?",
    "I'd like to book an appointment",
    "never mind",
    "thanks, bye",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass
class Phase:
    """One path's measurements over every round."""

    name: str
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Turns per second over the time this path was running."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def process_tree(root: int) -> dict[int, str]:
    """Every process under `root` (itself included), by pid, with a short name."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        names[int(entry.name)] = _short_name(cmdline)
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        found[pid] = names.get(pid, "?")
        todo.extend(children.get(pid, []))
    return found


def _short_name(cmdline: str) -> str:
    if "rasa" in cmdline and " run" in cmdline:
        return "rasa"
    if "frontdesk" in cmdline:
        return "service"
    return cmdline.split(" ", 1)[0].rsplit("/", 1)[-1] or "?"


def cpu_seconds(pids: dict[int, str]) -> dict[str, float]:
    """User + system CPU seconds so far, summed by process name."""
    totals: dict[str, float] = {}
    for pid, name in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        totals[name] = totals.get(name, 0.0) + used
    return totals


class LoadSampler(threading.Thread):
    """Reads the 1-minute load average every few seconds while the benchmark runs."""

    def __init__(self) -> None:
        """Start sampling at once."""
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self._halt = threading.Event()
        self.start()

    def run(self) -> None:
        """Sample until stopped."""
        while not self._halt.is_set():
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))
            self._halt.wait(5)

    def stop(self) -> list[float]:
        """Stop and return the samples."""
        self._halt.set()
        self.join()
        return self.samples


def chat_from(stack: Stack, address: str) -> ChatClient:
    """A web chat connection whose client address is `address` (a loopback alias)."""
    host, port = stack.base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.bind((address, 0))
    sock.settimeout(10)
    sock.connect((host, int(port)))
    sock.settimeout(None)
    return ChatClient(connect(f"{stack.ws_url}?practice=riverside", sock=sock, open_timeout=10))


def service_conversation(stack: Stack, index: int, round_: int, phase: Phase) -> None:
    """One conversation over the web chat socket, every turn timed."""
    chat = chat_from(stack, f"127.0.{1 + round_}.{10 + index}")
    try:
        for text in TURNS:
            started = time.perf_counter()
            frames = chat.turn(text)
            elapsed = (time.perf_counter() - started) * 1000
            if any(f["type"] == "error" for f in frames) or not any(
                f["type"] == "message" for f in frames
            ):
                phase.errors += 1
            else:
                phase.latencies.append(elapsed)
    finally:
        chat.close()


def direct_conversation(stack: Stack, index: int, round_: int, phase: Phase) -> None:
    """The same turns straight to Rasa's callback channel, under an id the service lacks."""
    url = stack.env["FRONTDESK_RASA_URL"] + "/webhooks/callback/webhook"
    sender = f"bench-direct-{round_}-{index}-{time.monotonic_ns()}"
    with httpx.Client(timeout=60) as client:
        for number, text in enumerate(TURNS):
            started = time.perf_counter()
            response = client.post(
                url,
                json={
                    "sender": sender,
                    "message": text,
                    "message_id": f"{sender}-{number}",
                    "metadata": {"language": "en"},
                },
            )
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code >= 400:
                phase.errors += 1
            else:
                phase.latencies.append(elapsed)


def run_phase(
    stack: Stack,
    phase: Phase,
    conversation: Callable[[Stack, int, int, Phase], None],
    conversations: int,
    round_: int,
) -> None:
    """Run `conversations` conversations at once and add their figures to `phase`."""
    pids = process_tree(stack.process.pid)
    cpu_before = cpu_seconds(pids)
    threads = [
        threading.Thread(target=conversation, args=(stack, i, round_, phase))
        for i in range(conversations)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds += time.perf_counter() - started
    for name, used in cpu_seconds(pids).items():
        phase.cpu[name] = phase.cpu.get(name, 0.0) + used - cpu_before.get(name, 0.0)


def report(phase: Phase) -> None:
    """Print one path's figures."""
    values = phase.latencies
    turns = len(values)
    print(
        f"{phase.name:<8} turns {turns:>4} (errors {phase.errors})  "
        f"p50 {statistics.median(values):7.1f} ms  p95 {percentile(values, 95):7.1f} ms  "
        f"max {max(values):7.1f} ms  {phase.throughput:5.2f} turns/s"
    )
    split = ", ".join(
        f"{name} {used / turns * 1000:.0f} ms" for name, used in sorted(phase.cpu.items()) if used
    )
    print(f"{'':<8} CPU per turn: {split}")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--turn-workers", type=int, default=None)
    args = parser.parse_args()
    service, direct = Phase("service"), Phase("direct")
    extra_env = {"FRONTDESK_TURN_WORKERS": str(args.turn_workers)} if args.turn_workers else {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_stack(Path(tmp), extra_env=extra_env) as stack,
    ):
        run_phase(stack, Phase("warm-up"), direct_conversation, 2, 99)  # TensorFlow graphs
        load = LoadSampler()
        for round_ in range(args.rounds):
            # Alternate which path goes first, so a change in the machine's load hits both.
            order = [(service, service_conversation), (direct, direct_conversation)]
            for phase, conversation in order if round_ % 2 == 0 else order[::-1]:
                run_phase(stack, phase, conversation, args.conversations, round_)
        samples = load.stop()
    print(
        f"\n{args.conversations} concurrent conversations x {len(TURNS)} everyday turns, "
        f"{args.rounds} rounds per path, {os.cpu_count()} CPUs, "
        f"turn workers {args.turn_workers or 'default'}"
    )
    report(service)
    report(direct)
    p50 = statistics.median(service.latencies) / statistics.median(direct.latencies)
    p95 = percentile(service.latencies, 95) / percentile(direct.latencies, 95)
    ratio = service.throughput / direct.throughput
    print(
        f"service / direct: p50 {p50:.2f}x, p95 {p95:.2f}x (goal <= 1.15); "
        f"throughput {ratio:.2f}x (goal >= 0.85)"
    )
    print(
        f"load average (1 min) during the run: min {min(samples):.2f}, "
        f"max {max(samples):.2f}, mean {statistics.fmean(samples):.2f} "
        "(the machine is shared: other work running meanwhile lowers every figure)"
    )


if __name__ == "__main__":
    main()
