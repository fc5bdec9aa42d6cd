"""docker-compose.yml stays a working deployment: its services, the settings they pass and their checks.

No Docker engine runs in CI, so the file is read as data: a renamed service, a URL that points at the
wrong host, a secret written into the file or a port published beyond the loopback fails here.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import pytest
import yaml
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "beat"]  # built from this repository's Dockerfile
S3_SERVICES = ["s3", "s3-bucket"]  # the optional profile: an S3-compatible store and its bucket
SECRETS = ["SECRET_KEY", "ANIAVATAR_MASTER_KEYS", "ANIAVATAR_FINGERPRINT_KEY", "EMAIL_HOST_PASSWORD"]


def test_it_runs_postgresql_redis_and_the_app():
    assert set(SERVICES) == {"db", "redis", *APP_SERVICES, *S3_SERVICES}
    assert SERVICES["db"]["image"].startswith("postgres:")
    assert SERVICES["redis"]["image"].startswith("redis:")
    for name in APP_SERVICES:
        assert SERVICES[name]["build"] == ".", name
    assert SERVICES["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "command" not in SERVICES["web"]  # the Dockerfile's gunicorn
    worker = SERVICES["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "aniavatar", "worker"]
    assert worker[worker.index("--pool") + 1] == "threads"
    assert SERVICES["beat"]["command"][:4] == ["celery", "-A", "aniavatar", "beat"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_app_reaches_the_compose_database_and_broker(name):
    environment = SERVICES[name]["environment"]
    database = dj_database_url.parse(environment["DATABASE_URL"])
    db = SERVICES["db"]["environment"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"]) == ("db", 5432)
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == (
        db["POSTGRES_DB"],
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
    )
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
    # The cache (rate limits, two-factor replay protection) is Redis too, in a database of its own.
    assert environment["CACHE_URL"].startswith("redis://redis:6379/")
    assert environment["CACHE_URL"] != environment["CELERY_BROKER_URL"]
    assert environment["MEDIA_ROOT"] in {volume.split(":")[1] for volume in SERVICES[name]["volumes"]}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_secrets_come_from_the_env_file_never_from_the_compose_file(name):
    assert SERVICES[name]["env_file"] == ".env"
    assert not set(SECRETS) & set(SERVICES[name]["environment"])
    assert not {f"{secret}_FILE" for secret in SECRETS} & set(SERVICES[name]["environment"])
    example = (ROOT / ".env.example").read_text()
    for required in ("SECRET_KEY", "ANIAVATAR_MASTER_KEYS"):
        assert f"\n{required}=" in example


def test_every_variable_it_sets_is_one_the_settings_read():
    settings_source = (ROOT / "aniavatar" / "settings.py").read_text()
    for name in APP_SERVICES:
        for variable in SERVICES[name]["environment"]:
            assert f'"{variable}"' in settings_source, variable


def test_the_app_starts_after_healthy_services_and_a_finished_migration():
    # `<<: *app` merges shallowly: web, worker and beat replace the anchor's depends_on with their own,
    # and reach a healthy database and broker through migrate.
    migrate = SERVICES["migrate"]["depends_on"]
    assert migrate == {"db": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        for service, condition in depends.items():
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}, service


def test_databases_broker_web_and_worker_have_health_checks():
    assert "pg_isready" in " ".join(SERVICES["db"]["healthcheck"]["test"])
    assert SERVICES["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert "inspect ping" in " ".join(SERVICES["worker"]["healthcheck"]["test"])
    probe = " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/readyz" in probe
    assert resolve("/readyz").url_name == "readyz"


def test_web_is_published_on_the_loopback_only():
    # Reachable from elsewhere, a client could write its own X-Forwarded-For and pick the address its
    # login lockout counts against (README "Deploying with Docker Compose").
    (published,) = SERVICES["web"]["ports"]
    assert published.startswith("127.0.0.1:")
    assert published.endswith(":8000")
    for name in ("db", "redis", "migrate", "worker", "beat", "s3-bucket"):
        assert "ports" not in SERVICES[name], name
    (store,) = SERVICES["s3"]["ports"]  # the TLS proxy serves it under its public name
    assert store.startswith("127.0.0.1:") and store.endswith(":9000")


def test_data_lives_in_named_volumes():
    assert set(COMPOSE["volumes"]) == {"pgdata", "redisdata", "media", "s3data"}
    assert "s3data:/data" in SERVICES["s3"]["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["db"]["volumes"]
    assert "redisdata:/data" in SERVICES["redis"]["volumes"]


def test_s3_is_an_optional_profile_the_app_does_not_need():
    # `docker compose up` without the profile starts no S3 service, and nothing else waits for one.
    for name in S3_SERVICES:
        assert SERVICES[name]["profiles"] == ["s3"], name
    for name in ["db", "redis", *APP_SERVICES]:
        assert "profiles" not in SERVICES[name], name
        assert not set(S3_SERVICES) & set(SERVICES[name].get("depends_on", {})), name
    assert "mc ready local" in " ".join(SERVICES["s3"]["healthcheck"]["test"])
    assert SERVICES["s3-bucket"]["depends_on"] == {"s3": {"condition": "service_healthy"}}


def test_the_s3_profile_takes_its_credentials_and_bucket_from_the_env_file_the_settings_read():
    settings_source = (ROOT / "aniavatar" / "settings.py").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in S3_SERVICES:
        assert SERVICES[name]["env_file"] == ".env"
        assert "environment" not in SERVICES[name]  # no credential written into the file
        command = " ".join(SERVICES[name]["entrypoint"])
        assert "$$AWS_ACCESS_KEY_ID" in command and "$$AWS_SECRET_ACCESS_KEY" in command
    assert "s3/$$AWS_STORAGE_BUCKET_NAME" in " ".join(SERVICES["s3-bucket"]["entrypoint"])
    for variable in (
        "AWS_STORAGE_BUCKET_NAME",
        "AWS_S3_ENDPOINT_URL",
        "AWS_S3_REGION_NAME",
        "AWS_QUERYSTRING_EXPIRE",
    ):
        assert f'"{variable}"' in settings_source, variable
        assert f"\n{variable}=" in example, variable
    # boto3 reads the credentials from the environment; the example leaves them empty.
    assert "\nAWS_ACCESS_KEY_ID=\n" in example and "\nAWS_SECRET_ACCESS_KEY=\n" in example
