"""Prometheus metrics, one registry per app (so two apps in one process never share counters).

Route labels are the route *templates* (`/v1/verdicts/{media_id}`), never raw paths, so
the number of series stays bounded whatever ids callers send; requests that match no route
count under "unmatched".

With `originmark serve --workers N` (N > 1) the workers share one view: `serve` points
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, read by the library itself
when it is imported) at a fresh folder before the workers start; each worker writes its
values to memory-mapped files there, and a scrape answered by any worker sums them all.
Counters and histograms keep the counts of a worker that has exited.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "originmark_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "originmark_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by method and route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.signatures = Counter(
            "originmark_sign_outcomes",
            'Sign requests by outcome: "signed" or the error code of the answer.',
            ("outcome",),
            registry=self.registry,
        )
        self.verdicts = Counter(
            "originmark_verify_outcomes",
            "Verify answers by verdict state and whether they came from the store.",
            ("state", "cached"),
            registry=self.registry,
        )
        self.thumbnails_not_staged = Counter(
            "originmark_feed_thumbnails_not_staged",
            "Feed thumbnails not made because ORIGINMARK_FEED_THUMBNAILS_MAX_PENDING were pending already.",
            registry=self.registry,
        )
        self.labels = Counter(
            "originmark_labels_served",
            "Media ids answered by label reads, by whether a label was stored.",
            ("found",),
            registry=self.registry,
        )
        self.engine_seconds = Histogram(
            "originmark_engine_seconds",
            "Time spent in the engine per file (sign, or verify in a worker process), queueing included.",
            ("operation",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        shared_folder = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
        if not shared_folder:
            return generate_latest(self.registry)
        # Every worker's values, read from the shared folder at scrape time.
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=shared_folder)
        return generate_latest(combined)
