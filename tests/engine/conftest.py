"""Engine fixtures: a real three-master Redis Cluster, started once per test run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster import running_cluster


@pytest.fixture(scope="session")
def cluster_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The URLs of a three-master cluster's nodes; the slots split evenly among them."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as urls:
        yield urls
