"""Delays (and drops) every packet of an NFQUEUE queue: run inside a test's network namespace.

    python -m tests.nfqueue_helper QUEUE DELAY_MS LOSS

The kernel here has no ``sch_netem``; iptables sends the namespace's traffic to queue QUEUE
and this holds each packet DELAY_MS before letting it go (in order), or drops it with
probability LOSS. Prints "ready" once bound.
"""

from __future__ import annotations

import heapq
import random
import sys
import threading
import time
from typing import Any

from netfilterqueue import NetfilterQueue


def main(argv: list[str]) -> None:
    queue_num, delay_s, loss = int(argv[0]), float(argv[1]) / 1000, float(argv[2])
    held: list[tuple[float, int, Any]] = []
    ready = threading.Condition()
    count = 0

    def release() -> None:
        while True:
            with ready:
                while not held:
                    ready.wait()
                due = held[0][0]
                wait = due - time.monotonic()
                if wait > 0:
                    ready.wait(wait)
                    continue
                _, _, packet = heapq.heappop(held)
            packet.accept()

    def on_packet(packet: Any) -> None:
        nonlocal count
        if loss and random.random() < loss:
            packet.drop()
            return
        with ready:
            count += 1
            heapq.heappush(held, (time.monotonic() + delay_s, count, packet))
            ready.notify()

    threading.Thread(target=release, daemon=True).start()
    queue = NetfilterQueue()
    queue.bind(queue_num, on_packet, max_len=20000)
    print("ready", flush=True)
    try:
        queue.run()
    finally:
        queue.unbind()


if __name__ == "__main__":
    main(sys.argv[1:])
