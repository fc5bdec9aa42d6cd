"""Run the provider double for an offline demo: `python -m provider_double --port 8100`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from .server import ProviderDouble
from .wire import FAULTS


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m provider_double", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each generation takes")
    parser.add_argument("--hang-seconds", type=float, default=30.0, help="how long the `slow` fault stalls")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request line")
    args = parser.parse_args(argv)
    # A shell starts background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # restore it, so Ctrl-C (or a SIGINT from a test or `make demo`'s trap) always stops the double.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")

    double = ProviderDouble(args.host, args.port, latency=args.latency, hang_seconds=args.hang_seconds)
    double.start()
    print(f"OPENAI_BASE_URL={double.openai_base_url}", flush=True)
    print(f"FAL_QUEUE_URL={double.fal_queue_url}", flush=True)
    print(f"FAL_PLATFORM_URL={double.fal_platform_url}", flush=True)
    print(f"Faults (end a key with __<fault>): {', '.join(sorted(FAULTS))}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        double.stop()


if __name__ == "__main__":
    main()
