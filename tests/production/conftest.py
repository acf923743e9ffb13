"""The production configuration, for real: deploy/run_two_instances.sh (2 Rasa replicas + 1 action
server behind nginx) on PostgreSQL + Redis, a fresh database per run (madoguchi_test_<random>,
dropped after), a fake LINE API (bench.cluster).

Fails with the reason when PostgreSQL, Redis or nginx is not there (`bash scripts/services.sh`
starts the local services; nginx: `apt-get install -y nginx`).
"""
from __future__ import annotations

import os
from typing import Iterator

import pytest

from bench.cluster import LINE_SECRET, Cluster, ServicesMissing, two_instances  # noqa: F401


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from tests.stack import newest_model

    try:
        with two_instances(newest_model(), run_dir=tmp_path_factory.mktemp("two-instances"),
                           routing=os.environ.get("PRODUCTION_TEST_LB_ROUTING", "sticky")) as c:
            yield c
    except ServicesMissing as exc:
        pytest.fail(str(exc))
