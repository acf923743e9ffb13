"""The production configuration, for real: deploy/run_two_instances.sh (2 Rasa replicas + 1 action
server behind nginx) on PostgreSQL + Redis, a fresh database per run (madoguchi_test_<random>,
dropped after), a fake LINE API (testing.cluster) and the shared fake Telegram API (tests/conftest.py).
One setup serves the whole package (it is stopped after the last test here): the balancer
listens on every interface so that tests/production/test_network_exposure.py can call it
from another machine (a network namespace).

Fails with the reason when PostgreSQL, Redis or nginx is not there (`bash scripts/services.sh`
starts the local services; nginx: `apt-get install -y nginx`).
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from testing.cluster import LINE_SECRET, Cluster, ServicesMissing, two_instances  # noqa: F401


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory, fake_api) -> Iterator[Cluster]:
    from tests.channels.fake_api import TELEGRAM_TOKEN
    from tests.conftest import TELEGRAM_SECRET
    from tests.stack import newest_model

    telegram = {
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_API_BASE_URL": fake_api.api.base_url,
    }
    try:
        with two_instances(
            newest_model(),
            run_dir=tmp_path_factory.mktemp("two-instances"),
            routing=os.environ.get("PRODUCTION_TEST_LB_ROUTING", "sticky"),
            # A TLS terminator on this machine would be trusted (H-2).
            extra_env={"LB_HOST": "0.0.0.0", "MADOGUCHI_TRUSTED_PROXIES": "127.0.0.1", **telegram},
        ) as c:
            yield c
    except ServicesMissing as exc:
        pytest.fail(str(exc))
