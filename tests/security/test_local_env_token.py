"""`make run-production` on a new machine still starts now that production requires
RASA_API_TOKEN (issue 12, finding 1): deploy.local_env generates one, and the generated
environment passes the start-time policy."""

from __future__ import annotations

from pathlib import Path

from deploy import local_env
from deploy.preflight import production_problems


def test_generated_production_env_passes_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "production.env"
    assert local_env.main([str(path)]) == 0
    env = dict(
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert production_problems(env) == []
    assert len(env["RASA_API_TOKEN"]) >= 32 and env["MADOGUCHI_REST_PUBLIC"] == "0"
    other = tmp_path / "other.env"
    local_env.main([str(other)])
    assert other.read_text() != path.read_text()  # every machine gets its own token
