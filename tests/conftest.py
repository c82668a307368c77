"""Shared fixtures for every tier: a migrated SQLite file per test, PostgreSQL databases, one
fixture that runs a test on both (``database_url``), SMTP servers."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.db import make_engine, upgrade
from newsletter.delivery.dkim import DkimSigner
from newsletter.runtime import Runtime
from tests.smtpserver import RecordingServer

# Speed is measured by the benchmarks, not by tests: no per-example time limit, which a loaded
# machine turns into random failures. The fuzz suite keeps its own deadline for hangs.
hypothesis_settings.register_profile("newsletter", deadline=None)
hypothesis_settings.load_profile("newsletter")

FIXTURES = Path(__file__).parent / "fixtures"
POSTGRES_URL = os.environ.get(
    "NEWSLETTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite_template: Path) -> str:
    """A fresh, migrated SQLite database file for this test."""
    path = tmp_path / "newsletter.db"
    shutil.copy(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """An engine on the test's SQLite file."""
    created = make_engine(sqlite_url)
    yield created
    created.dispose()


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL template database (fails instead of skipping under CI)."""
    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"nl_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    upgrade(f"{base}/{name}")
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test."""
    name = f"nl_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The test runs twice: on a migrated SQLite file and on a migrated PostgreSQL database."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def smtp_server() -> Iterator[RecordingServer]:
    """A real aiosmtpd server on loopback that records every message."""
    server = RecordingServer()
    server.start()
    yield server
    server.stop()


def make_settings(
    database_url: str, smtp: RecordingServer | None = None, **extra: object
) -> Settings:
    """Settings for a test: its database, its SMTP server, a fixed secret; ``extra`` in the
    operators' flat names (``smtp_pool_size=2``)."""
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-0123456789",
        "base_url": "https://news.example.test",
        "first_digest_lookback_days": 30,
    }
    if smtp is not None:
        values["smtp_url"] = f"smtp://127.0.0.1:{smtp.port}"
    values.update(extra)
    return Settings.build(values)


def make_runtime(settings: Settings, now: datetime = NOW) -> Runtime:
    """A runtime whose clock is frozen at ``now``."""
    return Runtime(
        settings=settings,
        engine=make_engine(settings.database_url),
        clock=lambda: now,
    )


# -- DKIM: one RSA key per test module, its DNS record and a signer (unit and e2e tiers) -------


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    """A fresh 2048-bit RSA private key, PEM."""
    from tests.dkimkeys import new_rsa_pem

    return new_rsa_pem()


@pytest.fixture(scope="module")
def record(rsa_pem: bytes) -> bytes:
    """The DKIM TXT record that publishes ``rsa_pem``'s public key."""
    from tests.dkimkeys import dns_record

    return dns_record(rsa_pem)


@pytest.fixture(scope="module")
def signer(rsa_pem: bytes) -> DkimSigner:
    """The product's signer with ``rsa_pem`` (a module may define its own ``signer``)."""
    from tests.dkimkeys import DOMAIN, SELECTOR

    return DkimSigner(rsa_pem, SELECTOR, DOMAIN)
