# syntax=docker/dockerfile:1.7
# The Civitas image: one image for every process of a node. The default command is the
# web process (daphne: HTTP and websockets); docker-compose.yml runs the same image as
# the Celery worker and Celery beat. Configuration comes from the environment only:
# see README.md, "Running in production".
#
#   docker build -t civitas .
#   docker compose up

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: wheels for every runtime dependency, compiled translations ------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential gettext \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.txt ./
# The image runs the portal, not its tests: the test tooling pinned in requirements.txt
# (pytest and its plugins, factory_boy, Playwright, ruff) stays out.
RUN grep -viE '^(pytest|pytest-[a-z-]+|execnet|iniconfig|pluggy|factory[-_]boy|faker|playwright|pyee|ruff)==' \
        requirements.txt >requirements.runtime.txt \
    && pip wheel --wheel-dir /wheels -r requirements.runtime.txt
COPY . .
RUN find . -path '*/LC_MESSAGES/*.po' -exec sh -c 'msgfmt --check -o "${1%.po}.mo" "$1"' _ {} \;

# --- runtime: slim, no compilers, runs as an unprivileged user -------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_DEBUG=false \
    CIVITAS_VAR_DIR=/app/var
RUN groupadd --system --gid 10001 civitas \
    && useradd --system --uid 10001 --gid civitas --home-dir /app --no-create-home --shell /usr/sbin/nologin civitas
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/requirements.runtime.txt,target=/tmp/requirements.runtime.txt \
    python -m venv /opt/venv \
    && pip install --no-cache-dir --no-index --find-links=/wheels -r /tmp/requirements.runtime.txt
WORKDIR /app
# The code belongs to root and is read-only for the portal; only var/ (media, beat's
# schedule) is the portal's to write.
COPY --from=builder /src /app
# Static files are collected into the image (hashed and compressed for whitenoise).
# Settings demand production values, so the build passes placeholders that exist only
# for this command: nothing connects to a database or a broker while collecting.
RUN DJANGO_SECRET_KEY=build-time-placeholder-never-used-to-sign-anything-build-time \
    DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    CIVITAS_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --no-input -v 0 \
    && rm -rf /app/var && mkdir -p /app/var/media && chown -R civitas:civitas /app/var

USER civitas
EXPOSE 8000
# /healthz needs a Host the portal accepts: the first of DJANGO_ALLOWED_HOSTS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; h = os.environ.get('DJANGO_ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.').replace('*', 'localhost') or 'localhost'; u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': h}), timeout=4)"]
# Behind a reverse proxy add --proxy-headers (and set CIVITAS_BEHIND_TLS_PROXY=true).
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "portal.asgi:application"]
