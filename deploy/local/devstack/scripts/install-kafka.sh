#!/usr/bin/env bash
# Fetch the jars of an Apache Kafka broker (KRaft mode) from Maven Central, once.
# Usage: install-kafka.sh [VERSION] [LIBS_DIR]
#   VERSION   Kafka version (default $KAFKA_VERSION or 3.9.1)
#   LIBS_DIR  where the jars go (default $EXAMGATE_CACHE_DIR/kafka-VERSION/libs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

version=${1:-${KAFKA_VERSION:-3.9.1}}
cache=${EXAMGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/examgate}
libs=${2:-$cache/kafka-$version/libs}
pom=$here/kafka-pom.xml

# One download at a time: `make demo` starts this ahead of the stack, which may then ask again.
mkdir -p "$(dirname "$libs")"
exec 9>"$(dirname "$libs")/.install.lock"
flock 9

if [[ -f $libs/kafka_2.13-$version.jar ]]; then
  log "Kafka $version jars already in $libs"
  exit 0
fi

need java default-jre-headless
need mvn maven

# Download into a scratch folder and move it in whole, so an interrupted
# download is never mistaken for a complete one.
partial=$libs.partial
rm -rf "$partial"
mkdir -p "$(dirname "$libs")"
log "downloading Kafka $version jars with Maven into $libs"
mvn -q -B -f "$pom" -Dkafka.version="$version" \
  dependency:copy-dependencies -DoutputDirectory="$partial"
[[ -f $partial/kafka_2.13-$version.jar ]] || die "Maven did not fetch kafka_2.13-$version.jar"
rm -rf "$libs"
mv "$partial" "$libs"
log "Kafka $version ready: $(ls "$libs" | wc -l) jars"
