# One image for the webserver, the daemon, the code location and the run tasks.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home \
    FORECAST_ENV=production

WORKDIR /opt/forecast

# Dependencies first, in a layer that only changes with pyproject.toml.
COPY pyproject.toml requirements.lock ./
RUN mkdir -p forecast_assets && touch forecast_assets/__init__.py \
    && pip install --upgrade pip \
    && pip install -c requirements.lock . \
    && pip uninstall -y forecast_assets \
    && rm -rf forecast_assets build *.egg-info

# Then the source, installed the same way as `make demo` installs it (without the test extras).
COPY forecast_assets ./forecast_assets
COPY workspace.yaml ./
COPY dagster.yaml /opt/dagster/home/dagster.yaml
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 dagster \
    && mkdir -p /opt/dagster/home && chown -R dagster /opt/dagster/home

USER dagster
EXPOSE 3000 4000

# CMD, not ENTRYPOINT, so the daemon / code-location / run-launcher commands can override it.
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
