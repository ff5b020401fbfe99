"""Reading ``/metrics``: one scrape parsed into samples, and totals by label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


class Scrape:
    """Every sample of one exposition: sample name -> sorted label pairs -> value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples: dict[str, dict[Labels, float]] = {}
        for family in self.families:
            for sample in family.samples:
                self.samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value

    def total(self, name: str, by: str | tuple[str, ...], **where: str) -> Counter:  # type: ignore[type-arg]
        """``sum by (by) (name{where})``; a single label name gives plain keys, several give tuples."""
        keys = (by,) if isinstance(by, str) else by
        totals: Counter = Counter()  # type: ignore[type-arg]
        for labels, value in self.samples.get(name, {}).items():
            pairs = dict(labels)
            if all(pairs.get(k) == v for k, v in where.items()):
                key = tuple(pairs.get(k, "") for k in keys)
                totals[key[0] if isinstance(by, str) else key] += value
        return +totals  # zeros dropped: a series at 0 and no series say the same

    def label_values(self) -> Iterable[tuple[str, str, str]]:
        """(sample name, label name, label value) for every label of every sample."""
        for name, series in self.samples.items():
            for labels in series:
                for label, value in labels:
                    yield name, label, value


def scrape(client: httpx.Client) -> Scrape:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return Scrape(response.text)
