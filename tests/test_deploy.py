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
