"""The deployment files: one image, a Compose stack that refuses to start half-configured."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from outreach.cli import app as cli_app
from outreach.config import Settings
from outreach.encryption import keys

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

APP_SERVICES = ("migrate", "api", "worker", "beat")
SERVICES = ("postgres", "redis", *APP_SERVICES)
REQUIRED_SECRETS = (
    "OUTREACH_SECRET_KEY",
    "OUTREACH_CALLBACK_KEY",
    "OUTREACH_AT_API_KEY",
    "OUTREACH_AT_USERNAME",
    "POSTGRES_PASSWORD",
    "OUTREACH_DATA_KEYS",
    "OUTREACH_INDEX_KEYS",
)
# The secrets the application itself refuses to run with when they are placeholders.
APP_CHECKED_SECRETS = (
    "OUTREACH_SECRET_KEY",
    "OUTREACH_CALLBACK_KEY",
    "OUTREACH_AT_API_KEY",
    "OUTREACH_DATA_KEYS",
    "OUTREACH_INDEX_KEYS",
)
OUTREACH_VAR = re.compile(r"\bOUTREACH_[A-Z0-9_]+")
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_example() -> dict[str, str]:
    """The KEY=VALUE lines of .env.example that are not commented out."""
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` over `env`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name, "")
        if op in (":?", "?") and not current:
            raise LookupError(f"{name}: {arg}")
        if op in (":-", "-") and not current:
            return arg
        return current

    return INTERPOLATION.sub(replace, value)


def field_of(variable: str) -> str:
    return variable.removeprefix("OUTREACH_").lower()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    pairs = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        pairs.append((instruction.upper(), args.strip()))
    return pairs


def resolve_cli(argv: list[str]) -> tuple[list[str], Any, list[str]]:
    """Walk `outreach ...` down to the command it names: (path, command, its arguments)."""
    assert argv[0] == "outreach", argv
    command: Any = typer.main.get_command(cli_app)
    path: list[str] = []
    rest = list(argv[1:])
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


def python_healthcheck(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    return test[3]


# --- docker-compose.yml: shape ---------------------------------------------------------


def test_compose_has_every_service_and_no_version_key(compose: dict[str, Any]) -> None:
    # given the Compose file
    # when its top level is read
    names = set(compose["services"])
    # then the whole stack is there, in the Compose spec form (no obsolete `version:`)
    assert set(SERVICES) <= names
    assert "version" not in compose


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    # given every service of the stack
    for name in SERVICES:
        # when its healthcheck is read
        check = services[name].get("healthcheck")
        # then there is a real one, not disabled
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), (name, check["test"])
        assert check["test"][1:], name


def test_app_services_share_one_image_and_one_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    # given the four outreach services
    app = [services[name] for name in APP_SERVICES]
    # when their build, image and environment are compared
    builds = [json.dumps(s.get("build"), sort_keys=True) for s in app]
    images = {s.get("image") for s in app}
    environments = [json.dumps(s.get("environment"), sort_keys=True) for s in app]
    # then they all run the image built from the repository's Dockerfile, with one env
    assert len(set(builds)) == 1 and app[0]["build"], builds
    assert len(images) == 1 and None not in images, images
    build = app[0]["build"]
    context = ROOT / build.get("context", ".")
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert len(set(environments)) == 1, environments
    assert all(s.get("env_file") == ".env" for s in app)


def test_redis_is_durable_and_never_evicts(services: dict[str, dict[str, Any]]) -> None:
    # given the redis service
    command = services["redis"]["command"]
    # when its command line is read
    words = command.split() if isinstance(command, str) else [str(w) for w in command]
    joined = " ".join(words)
    # then it keeps an append-only file and refuses writes rather than dropping queue keys
    assert words[0] == "redis-server"
    assert "--appendonly yes" in joined
    assert "--maxmemory-policy noeviction" in joined
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    assert services["redis"]["image"].startswith("redis:7")


def test_postgres_keeps_its_data_and_reports_readiness(
    services: dict[str, dict[str, Any]],
) -> None:
    # given the postgres service
    postgres = services["postgres"]
    # when its image, volume and healthcheck are read
    check = " ".join(postgres["healthcheck"]["test"])
    # then it is PostgreSQL 16 on a volume, checked with pg_isready
    assert postgres["image"].startswith("postgres:16")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in check


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    # given the outreach services' dependencies
    migrate = services["migrate"]
    # when they are read
    # then migrate runs once PostgreSQL is healthy, and is never restarted
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    # and the long-running pieces wait for a finished migration and a healthy Redis
    for name in ("api", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert services[name].get("restart") not in (None, "no"), name


def test_worker_scales_and_beat_stays_single(services: dict[str, dict[str, Any]]) -> None:
    # given the worker and beat services
    worker, beat = services["worker"], services["beat"]
    # when what would block `--scale worker=N` is looked for
    # then the worker has no fixed container name and publishes no port
    assert "container_name" not in worker and "ports" not in worker
    # and beat is declared as exactly one replica
    assert beat.get("deploy", {}).get("replicas") == 1


def test_api_listens_on_every_interface_on_the_published_port(
    services: dict[str, dict[str, Any]],
) -> None:
    # given the api service
    api = services["api"]
    # when its command, ports and healthcheck are read
    command = api["command"]
    port = command[command.index("--port") + 1]
    # then it binds 0.0.0.0 inside the container, on the port that is published and checked
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104
    assert any(str(p).endswith(f":{port}") for p in api["ports"])
    assert f"http://127.0.0.1:{port}/health" in python_healthcheck(api)


def test_commands_are_real_cli_commands(services: dict[str, dict[str, Any]]) -> None:
    # given every command the image is run with: the services' and the Dockerfile's default
    cmd = next(args for ins, args in dockerfile_instructions() if ins == "CMD")
    commands = {name: services[name]["command"] for name in APP_SERVICES}
    commands["Dockerfile CMD"] = json.loads(cmd)
    expected = {
        "migrate": ["db", "upgrade"],
        "api": ["api"],
        "worker": ["worker"],
        "beat": ["beat"],
        "Dockerfile CMD": ["api"],
    }
    runner = CliRunner()
    for name, raw_argv in commands.items():
        # when its `${VAR:-default}` values take their defaults, as Compose would with
        # no .env, and it is resolved against the real `outreach` CLI
        argv = [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", arg) for arg in raw_argv]
        path, command, rest = resolve_cli(argv)
        # then it names a leaf command whose options parse
        assert path == expected[name], (name, argv)
        assert not hasattr(command, "commands"), (name, argv)
        command.make_context(" ".join(["outreach", *path]), list(rest))
        # and the CLI answers `--help` for it
        result = runner.invoke(cli_app, [*path, "--help"])
        assert result.exit_code == 0, (name, result.output)
    assert commands["worker"][commands["worker"].index("--concurrency") + 1] == "4"
    assert commands["api"][commands["api"].index("--workers") + 1] == "${API_WORKERS:-2}"


# --- variables ---------------------------------------------------------------------------


def test_every_outreach_variable_is_a_setting() -> None:
    # given every OUTREACH_* name written in docker-compose.yml and .env.example
    for path in (COMPOSE, ENV_EXAMPLE):
        names = set(OUTREACH_VAR.findall(path.read_text(encoding="utf-8")))
        assert names, path.name
        # when each is mapped to a Settings field
        unknown = sorted(n for n in names if field_of(n) not in Settings.model_fields)
        # then none is a typo that the settings would silently ignore
        assert not unknown, f"{path.name}: not a Settings field: {unknown}"


def test_env_example_documents_every_setting() -> None:
    # given the Settings fields (the emulator's serve development only)
    fields = {f for f in Settings.model_fields if not f.startswith("emulator_")}
    # when the names mentioned in .env.example are collected
    mentioned = {field_of(n) for n in OUTREACH_VAR.findall(ENV_EXAMPLE.read_text("utf-8"))}
    # then each setting is there, set or commented with its default
    missing = sorted(f"OUTREACH_{f.upper()}" for f in fields - mentioned)
    assert not missing, f"document these in .env.example: {missing}"


def test_compose_requires_the_secrets(compose: dict[str, Any]) -> None:
    # given the Compose file's interpolations
    text = COMPOSE.read_text(encoding="utf-8")
    required = {m.group(1) for m in INTERPOLATION.finditer(text) if m.group(2) in (":?", "?")}
    # when the secrets are looked for among the required ones
    # then Compose refuses to start while any of them is unset or empty
    assert set(REQUIRED_SECRETS) <= required, required
    # and without one, the shared environment cannot be built
    env = env_example()
    for name in REQUIRED_SECRETS:
        partial = {k: v for k, v in env.items() if k != name}
        with pytest.raises(LookupError, match=name):
            for value in compose["x-outreach-env"].values():
                interpolate(str(value), partial)


def test_env_example_defines_every_compose_variable() -> None:
    # given every variable docker-compose.yml interpolates
    text = COMPOSE.read_text(encoding="utf-8")
    used = {m.group(1) for m in INTERPOLATION.finditer(text) if m.group(1)}
    # when .env.example's uncommented keys are compared with them
    defined = set(env_example())
    # then copying .env.example to .env gives Compose all it needs
    assert used <= defined, sorted(used - defined)


def production_settings(compose: dict[str, Any], values: dict[str, str]) -> Settings:
    """Settings as a container gets them: .env values, then compose's fixed environment."""
    env = {k: v for k, v in values.items() if k.startswith("OUTREACH_")}
    for key, value in compose["x-outreach-env"].items():
        env[key] = interpolate(str(value), values)
    # Init values win over the environment; every field the production check reads is given.
    fields: dict[str, Any] = {field_of(k): v for k, v in env.items()}
    return Settings(_env_file=None, **fields)


def test_env_example_placeholders_are_refused_in_production(compose: dict[str, Any]) -> None:
    # given .env.example copied as is, in the production environment Compose sets
    values = env_example()
    # when the settings are built
    with pytest.raises(ValueError, match="refusing to start in production") as refused:
        production_settings(compose, values)
    # then every placeholder secret is named in the refusal
    for name in APP_CHECKED_SECRETS:
        assert name in str(refused.value), name


def test_real_secrets_with_compose_environment_pass_the_production_check(
    compose: dict[str, Any],
) -> None:
    # given .env.example with its secrets replaced by random values
    values = env_example()
    for name in (*APP_CHECKED_SECRETS, "OUTREACH_AT_USERNAME", "POSTGRES_PASSWORD"):
        values[name] = secrets.token_hex(24)
    values["OUTREACH_DATA_KEYS"] = keys.generate_data_key()
    # when the settings are built with Compose's fixed environment
    settings = production_settings(compose, values)
    # then the production check passes: PostgreSQL, Redis and Africa's Talking on the services
    assert settings.env == "production" and settings.gateway == "africastalking"
    assert not settings.debug and settings.redis_url == "redis://redis:6379/0"
    url = make_url(settings.database_url)
    assert (url.drivername, url.host, url.port) == ("postgresql+psycopg", "postgres", 5432)
    assert url.password == values["POSTGRES_PASSWORD"]


# --- healthchecks, run for real ---------------------------------------------------------


def run_check(code: str, *, cwd: Path, env: dict[str, str] | None = None) -> int:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.returncode


def test_beat_healthcheck_follows_the_schedule_file(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # given beat's healthcheck, run from a working directory like the image's /app
    code = python_healthcheck(services["beat"])
    # when beat has not written its schedule yet
    # then it is unhealthy
    assert run_check(code, cwd=tmp_path) == 1
    # when the schedule file was just written (as `outreach beat` names it, under var/)
    (tmp_path / "var").mkdir()
    schedule = tmp_path / "var" / "celerybeat-schedule.dat"
    schedule.write_bytes(b"x")
    # then it is healthy
    assert run_check(code, cwd=tmp_path) == 0
    # when the file has not been touched for an hour
    stale = time.time() - 3600
    os.utime(schedule, (stale, stale))
    # then it is unhealthy again
    assert run_check(code, cwd=tmp_path) == 1


def test_migrate_healthcheck_is_harmless(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # given the one-shot migrate service's healthcheck
    code = python_healthcheck(services["migrate"])
    # when it runs
    # then it succeeds without touching anything
    assert run_check(code, cwd=tmp_path) == 0


@pytest.mark.e2e
def test_api_and_worker_healthchecks_against_real_processes(
    services: dict[str, dict[str, Any]], stack: Any, tmp_path: Path
) -> None:
    # given a real API and a real Celery worker on this host
    env = dict(os.environ, OUTREACH_REDIS_URL=stack.redis_url)
    api_check = python_healthcheck(services["api"])
    # when the api healthcheck runs against the API's port
    code = api_check.replace("127.0.0.1:8000", stack.api_url.removeprefix("http://"))
    # then it passes
    assert run_check(code, cwd=tmp_path, env=env) == 0
    # when the worker healthcheck runs on the same host and broker
    # then the worker answers its ping
    assert run_check(python_healthcheck(services["worker"]), cwd=tmp_path, env=env) == 0


@pytest.mark.e2e
def test_worker_healthcheck_fails_without_a_worker(
    services: dict[str, dict[str, Any]], stack: Any, tmp_path: Path
) -> None:
    # given a Redis database no worker listens on
    base, _, index = stack.redis_url.rpartition("/")
    taken = {int(index), int(os.environ["OUTREACH_REDIS_URL"].rpartition("/")[2] or 0)}
    empty = next(i for i in range(16) if i not in taken)
    env = dict(os.environ, OUTREACH_REDIS_URL=f"{base}/{empty}")
    # when the worker healthcheck runs against it
    # then nobody answers and the check fails
    assert run_check(python_healthcheck(services["worker"]), cwd=tmp_path, env=env) == 1


# --- Dockerfile and .dockerignore --------------------------------------------------------


def test_dockerfile_builds_one_slim_non_root_image() -> None:
    # given the Dockerfile's instructions
    pairs = dockerfile_instructions()
    instructions = [ins for ins, _ in pairs]
    args = {ins: a for ins, a in pairs}
    runs = " && ".join(a for ins, a in pairs if ins == "RUN")
    # when they are read
    # then it is a single python:3.11-slim stage with the expected runtime settings
    assert [a for ins, a in pairs if ins == "FROM"] == ["python:3.11-slim"]
    assert args["WORKDIR"] == "/app"
    assert "PYTHONUNBUFFERED=1" in " ".join(a for ins, a in pairs if ins == "ENV")
    assert args["EXPOSE"] == "8000"
    default = ["outreach", "api", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104
    assert json.loads(args["CMD"]) == default
    # and a regular, pinned install without the dev extras
    assert re.search(r"pip install --no-cache-dir -c constraints\.txt \.(\s|$)", runs), runs
    assert " -e " not in runs and "[dev]" not in runs
    # and a non-root user who owns the writable var/ only, set after the install
    user = args["USER"]
    assert user not in ("root", "0")
    assert instructions.index("USER") > max(i for i, ins in enumerate(instructions) if ins == "RUN")
    assert "mkdir -p /app/var" in runs and f"chown {user}:{user} /app/var" in runs


def test_dockerfile_copies_only_what_the_package_needs() -> None:
    # given the Dockerfile's COPY sources
    sources = []
    for ins, args in dockerfile_instructions():
        if ins == "COPY":
            sources.extend(args.split()[:-1])
    names = {s.rstrip("/") for s in sources}
    # when they are compared with the package layout
    # then the sources, the pins and pyproject are copied, nothing else
    assert {"outreach", "workers", "messages", "pyproject.toml", "constraints.txt"} <= names
    assert names <= {
        "outreach",
        "workers",
        "messages",
        "pyproject.toml",
        "constraints.txt",
        "README.md",
    }
    # and every source exists and is not excluded by .dockerignore
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for name in names:
        assert (ROOT / name).exists(), name
        assert name not in ignored, name


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    # given .dockerignore
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    # when its entries are read
    # then the virtualenv, local data, git, caches, tests, docs and .env stay out of the build
    for entry in (
        ".venv",
        "var",
        ".git",
        "tests",
        "bench",
        "docs",
        ".env",
        "**/__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
    ):
        assert entry in ignored, entry


# --- the real Compose client, when there is one ------------------------------------------


def compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        version = subprocess.run(
            [standalone, "version", "--short"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
            return [standalone]
    return None


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    client = compose_client()
    if client is None:
        pytest.skip("no Docker Compose v2 client on this machine")
    # given the Compose file and Dockerfile, with .env.example's dummy values as .env
    for path in (COMPOSE, DOCKERFILE):
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "POSTGRES_"))}
    # when Compose validates and interpolates it
    ok = subprocess.run(
        [*client, "-f", "docker-compose.yml", "config", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # then it is accepted
    assert ok.returncode == 0, ok.stderr
    # when a secret is missing from .env
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    (tmp_path / ".env").write_text(
        "\n".join(line for line in lines if not line.startswith("OUTREACH_SECRET_KEY=")) + "\n",
        encoding="utf-8",
    )
    refused = subprocess.run(
        [*client, "-f", "docker-compose.yml", "config", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # then Compose refuses, naming it
    assert refused.returncode != 0
    assert "OUTREACH_SECRET_KEY" in refused.stderr
