"""docker-compose's database roles, run against a real PostgreSQL server with psql."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from frontdesk.db import make_engine
from frontdesk.migrate import upgrade
from frontdesk.settings import PROJECT_ROOT
from tests.conftest import POSTGRES_URL, _postgres_url

DEPLOY = PROJECT_ROOT / "deploy"
ROLES = ("frontdesk_app", "frontdesk_owner", "rasa")


def test_compose_runs_the_service_and_rasa_as_their_own_roles() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    urls = {
        name: " ".join(str(v) for k, v in services[name]["environment"].items() if "URL" in k)
        for name in ("migrate", "service", "rasa")
    }
    assert "frontdesk_owner:" in urls["migrate"]
    assert "frontdesk_app:" in urls["service"] and "frontdesk_owner" not in urls["service"]
    assert "rasa:" in urls["rasa"] and "/frontdesk" not in urls["rasa"].replace("/frontdesk_", "")
    assert services["service"]["depends_on"]["grants"]["condition"].startswith("service_completed")


@dataclass
class Cluster:
    admin: URL
    app_db: str
    tracker_db: str

    def as_role(self, role: str, database: str) -> URL:
        return self.admin.set(username=role, password=None, database=database)

    def psql(self, database: str, script: str, **variables: str) -> None:
        args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(DEPLOY / script)]
        for name, value in variables.items():
            args += ["-v", f"{name}={value}"]
        url = self.admin.set(database=database, drivername="postgresql")
        subprocess.run(
            [*args, url.render_as_string(hide_password=False)], check=True, capture_output=True
        )


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need FRONTDESK_TEST_POSTGRES_URL (set by .ci/run)")
    admin = make_url(_postgres_url())
    tag = uuid.uuid4().hex[:8]
    found = Cluster(admin, f"fd_roles_app_{tag}", f"fd_roles_tracker_{tag}")
    yield found
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for database in (found.app_db, found.tracker_db):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        for role in ROLES:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
            )
            if exists:
                connection.execute(text(f"DROP OWNED BY {role}"))
                connection.execute(text(f"DROP ROLE {role}"))
    engine.dispose()


@pytest.mark.postgres
def test_the_service_role_cannot_change_the_audit_log_and_rasa_sees_only_its_tracker(
    cluster: Cluster,
) -> None:
    passwords = {f"{r}_password": "unused-with-trust-auth" for r in ("owner", "app", "rasa")}
    cluster.psql(
        "postgres",
        "postgres-roles.sql",
        app_db=cluster.app_db,
        tracker_db=cluster.tracker_db,
        **passwords,
    )
    owner = make_engine(cluster.as_role("frontdesk_owner", cluster.app_db).render_as_string())
    upgrade(owner)  # the compose `migrate` step
    owner.dispose()
    cluster.psql(cluster.app_db, "postgres-grants.sql")  # the compose `grants` step

    app = create_engine(cluster.as_role("frontdesk_app", cluster.app_db))
    with app.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO practices (slug, name, timezone, min_lead_minutes, max_horizon_days, "
                "created_at) "
                "VALUES ('p', 'P', 'UTC', 0, 90, now())"
            )
        )
        practice = connection.scalar(text("SELECT id FROM practices WHERE slug = 'p'"))
        connection.execute(
            text(
                "INSERT INTO audit_events (practice_id, seq, action, subject_type, subject_id, "
                "at, prev_hash, hash) VALUES (:p, 1, 'a', 'b', 'c', now(), :z, :h)"
            ),
            {"p": practice, "z": "0" * 64, "h": "1" * 64},
        )
    for statement in (
        "UPDATE audit_events SET reason = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER USER",
    ):
        with pytest.raises(DBAPIError, match=r"permission denied|must be owner"), app.begin() as c:
            c.execute(text(statement))
    app.dispose()

    with pytest.raises(OperationalError, match="permission denied"):
        rasa_on_app = create_engine(cluster.as_role("rasa", cluster.app_db))
        with rasa_on_app.connect():
            pass
    rasa = create_engine(cluster.as_role("rasa", cluster.tracker_db))
    with rasa.begin() as connection:  # Rasa creates its tables on first start
        connection.execute(text("CREATE TABLE events (id serial PRIMARY KEY, data text)"))
        connection.execute(text("INSERT INTO events (data) VALUES ('old')"))
    rasa.dispose()
    retention = create_engine(cluster.as_role("frontdesk_app", cluster.tracker_db))
    with retention.begin() as connection:
        assert connection.execute(text("DELETE FROM events")).rowcount == 1
    with pytest.raises(DBAPIError, match="permission denied"), retention.begin() as connection:
        connection.execute(text("INSERT INTO events (data) VALUES ('forged')"))
    retention.dispose()


ONE_SHOT = {"migrate", "grants"}


def test_every_compose_service_restarts_and_reports_its_health() -> None:
    services = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name  # runs once per `up`, then exits
        else:
            assert service["restart"] == "unless-stopped", name
            assert service["healthcheck"]["test"], name
    assert "/livez" in " ".join(services["service"]["healthcheck"]["test"])
    assert services["migrate"]["command"][:3] == ["frontdesk", "migrate", "--wait"]
    assert services["grants"]["depends_on"]["migrate"]["condition"].startswith("service_completed")


def _dockerfile_user(name: str) -> str:
    lines = (DEPLOY / name).read_text().splitlines()
    return [line.split()[1] for line in lines if line.startswith("USER ")][-1]


@pytest.mark.parametrize("name", ["Dockerfile.service", "Dockerfile.rasa"])
def test_images_run_as_an_unprivileged_user_with_a_health_check(name: str) -> None:
    assert _dockerfile_user(name) not in ("root", "0")
    assert "HEALTHCHECK" in (DEPLOY / name).read_text()


def test_the_rasa_image_trains_at_build_into_a_folder_its_user_owns() -> None:
    text_ = (DEPLOY / "Dockerfile.rasa").read_text()
    after_user = text_[text_.index("USER 10001") :]
    assert "RUN rasa-entrypoint train" in after_user  # trained as `rasa`, not as root
    assert "chown rasa:rasa /app /app/models" in text_


def _names(lines: list[str]) -> set[str]:
    return {line.split("==")[0].lower() for line in lines if line and not line.startswith("#")}


def test_the_production_image_leaves_out_test_and_check_tools() -> None:
    dev_only = _names((DEPLOY / "dev-only.txt").read_text().splitlines())
    locked = _names((PROJECT_ROOT / "requirements" / "service.lock").read_text().splitlines())
    assert dev_only <= locked, dev_only - locked  # each name is real: the filter drops it
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    extra = pyproject[pyproject.index("dev = [") : pyproject.index("]", pyproject.index("dev = ["))]
    declared = {
        line.strip().strip('",').split(">")[0].split("=")[0].lower()
        for line in extra.splitlines()[1:]
        if line.strip().startswith('"')
    }
    assert declared <= dev_only, declared - dev_only
    # The Dockerfile's own filter, run here on the real lock.
    drop = "\n".join(f"^{n}==" for n in sorted(dev_only))
    production = subprocess.run(
        ["grep", "-viE", "-f", "/dev/stdin", str(PROJECT_ROOT / "requirements" / "service.lock")],
        input=drop,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dev-only.txt" in (DEPLOY / "Dockerfile.service").read_text()
    names = _names(production.splitlines())
    assert not names & {"pytest", "ruff", "mypy", "playwright", "coverage"}
    assert {"fastapi", "uvicorn", "sqlalchemy"} <= names
    rasa = _names((PROJECT_ROOT / "requirements" / "rasa.lock").read_text().splitlines())
    assert not rasa & {"pytest", "ruff", "mypy", "playwright", "coverage"}  # installed whole


def test_the_docker_build_context_is_an_allow_list_without_the_environments() -> None:
    rules = [
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    allowed = [rule[1:].rstrip("/") for rule in rules if rule.startswith("!")]
    for kept_out in (".venv", ".venv-rasa", "var", "tests", ".env", ".git"):
        assert kept_out not in allowed
    size = sum(
        f.stat().st_size
        for entry in allowed
        for f in (
            [PROJECT_ROOT / entry]
            if (PROJECT_ROOT / entry).is_file()
            else (PROJECT_ROOT / entry).rglob("*")
        )
        if f.is_file() and "__pycache__" not in f.parts
    )
    assert size < 50 * 1024 * 1024, size  # megabytes, not the gigabytes of the envs


def test_env_example_names_the_compose_superuser_password() -> None:
    assert "POSTGRES_PASSWORD=" in (PROJECT_ROOT / ".env.example").read_text()
