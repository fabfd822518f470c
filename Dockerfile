# syntax=docker/dockerfile:1
# Build: docker build -t github-stats-exporter .
# Run:   docker run -p 8080:8080 -v $PWD/config:/config:ro github-stats-exporter serve --config /config/local.yaml
FROM python:3.11-slim-bookworm AS build
# A C compiler for the optional C loop of the Copilot mapper (setup.py); only this stage has it.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY requirements ./requirements
COPY src ./src
# Dependencies from the hashed lock only; the package itself resolves nothing.
RUN python -m pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.lock \
 && python -m pip install --no-cache-dir --require-hashes --no-deps --prefix=/install -r requirements/runtime.lock \
 && python -m pip install --no-cache-dir --no-deps --no-build-isolation --prefix=/install .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="github-stats-exporter" \
      org.opencontainers.image.description="GitHub activity and Copilot usage metrics for Prometheus"
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin appuser
COPY --from=build /install /usr/local
USER 10001
EXPOSE 8080
# Liveness only: readiness (/readyz) belongs to the orchestrator, and must not restart a replica
# whose GitHub or queue dependency is down.
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["github-stats-exporter"]
CMD ["serve", "--config", "/config/local.yaml"]
