#!/usr/bin/env bash
# Installs the real servers the test suite starts (Redis, RabbitMQ, Prometheus/promtool) from Debian,
# and the C compiler of the optional mapper loop.
# Tests start and stop their own instances on free loopback ports; nothing is started here.
set -euo pipefail
need=()
command -v redis-server   >/dev/null 2>&1 || need+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
command -v promtool       >/dev/null 2>&1 || need+=(prometheus)
# A C compiler and Python's headers build the optional C loop of the Copilot mapper
# (src/github_stats_exporter/scrape/_copilot_sums.c); the tests run it next to the pure-Python loop.
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need+=(python3-dev)
# kubectl (its built-in kustomize renders deploy/kubernetes in the tests) comes with the machine image
# (google-cloud-cli); Debian's kubernetes-client is too old to render `patches`, so it is not installed here.
command -v kubectl >/dev/null 2>&1 || echo "note: kubectl not found; the kustomize rendering tests in tests/unit/test_deploy_manifests.py will skip" >&2
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
