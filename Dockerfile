# syntax=docker/dockerfile:1
# One image for every piece of the stack: the API (default command), the Celery worker,
# Celery beat and the one-shot migration. docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

RUN groupadd --system --gid 10001 outreach \
 && useradd --system --uid 10001 --gid outreach --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin outreach

COPY pyproject.toml constraints.txt README.md ./
COPY outreach/ outreach/
COPY workers/ workers/
COPY messages/ messages/

# A regular (not editable) install pinned by constraints.txt, without the dev extras.
# var/ is the only place the app writes (beat's schedule file): owned by the app user.
RUN pip install --no-cache-dir -c constraints.txt . \
 && rm -rf build outreach.egg-info \
 && mkdir -p /app/var \
 && chown outreach:outreach /app/var

USER outreach

EXPOSE 8000

# Inside a container the API must listen on every interface (the settings default is 127.0.0.1).
CMD ["outreach", "api", "--host", "0.0.0.0", "--port", "8000"]
