from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from exchange_site.settings.env import env
from matching.worker import Matcher


class Command(BaseCommand):
    help = "Run the matching worker for one market shard (or the given markets)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--shard", type=int, default=0, help="Market.shard to serve")
        parser.add_argument("--markets", nargs="*", help="symbols to serve instead of a shard")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--block-ms", type=int, default=20, help="stream read wait when idle")
        parser.add_argument(
            "--lease-ttl-ms", type=int, default=None,
            help="standby takeover time after a crash (default MATCHER_LEASE_TTL_MS or 5000)",
        )  # fmt: skip
        parser.add_argument(
            "--stream-retain-s", type=float, default=None,
            help="keep applied stream entries this long before trimming (default"
            " MATCHER_STREAM_RETAIN_S or 300)",
        )  # fmt: skip
        parser.add_argument(
            "--metrics-port", type=int, default=None,
            help="Prometheus port (default MATCHER_METRICS_PORT or 9100 + shard; 0 disables)",
        )  # fmt: skip

    def handle(self, *args: Any, **o: Any) -> None:
        port = o["metrics_port"]
        if port is None:
            port = env("MATCHER_METRICS_PORT", 9100 + o["shard"], cast=int)
        matcher = Matcher(
            shard=o["shard"], symbols=o["markets"] or None, batch_size=o["batch_size"],
            block_ms=o["block_ms"], metrics_port=port or None,
            lease_ttl_ms=o["lease_ttl_ms"] or env("MATCHER_LEASE_TTL_MS", 5000, cast=int),
            stream_retain_s=o["stream_retain_s"]
            if o["stream_retain_s"] is not None
            else env("MATCHER_STREAM_RETAIN_S", 300.0, cast=float),
        )  # fmt: skip
        matcher.setup()
        matcher.run()
