#!/usr/bin/env bash
# Assemble an Apache Kafka binary tarball (kafka_2.13-<version>.tgz) from the
# jars published on Maven Central, for machines that reach Maven Central but
# not downloads.apache.org.
#
# Usage: scripts/kafka-dist.sh VERSION OUTPUT [CACHE_DIR]
#   VERSION    Kafka version, e.g. 4.4.0 (4.x, Scala 2.13 only)
#   OUTPUT     output file, or an existing directory (or a path ending in /)
#              that receives kafka_2.13-VERSION.tgz
#   CACHE_DIR  download cache; default $KAFKA_DIST_CACHE, else
#              ${XDG_CACHE_HOME:-$HOME/.cache}/kafka-dist. The Maven local
#              repository lives in CACHE_DIR/m2, so CI can cache that path.
# Environment: MVN (default: mvn; may include options, e.g. "mvn -o" for
# offline use of a warm cache), SOURCE_DATE_EPOCH (tar mtime, default 0),
# KAFKA_DIST_CONNECT (1: keep kafka-tools' connect-runtime dependency; default 0),
# KAFKA_DIST_LOG4J (log4j2 version for releases whose POMs name none, i.e.
# 4.0.x; default 2.24.3).
#
# Needs only mvn (with a JDK) plus coreutils, GNU tar and gzip. Quiet on
# success: the only output is the sha512 line of the result ("<hash>  <path>").
# The tarball is reproducible (sorted entries, fixed owner and mtime, gzip -n),
# so re-running with the same VERSION gives the same bytes and leaves an
# identical existing OUTPUT untouched.
#
# Layout (as upstream, reduced):
#   kafka_2.13-VERSION/libs/    flat: kafka_2.13, kafka-tools and their runtime
#                               dependencies (kafka-server, -storage, -metadata,
#                               -raft, -clients, the coordinators; connect-runtime
#                               only with KAFKA_DIST_CONNECT=1, see below), plus
#                               the SLF4J->Log4j2 binding, which no Kafka POM
#                               declares (without it every Kafka class logs
#                               through SLF4J's NOP logger, i.e. nothing), and
#                               for 4.0.x also log4j-api and log4j-core
#   kafka_2.13-VERSION/config/  a minimal server.properties and log4j2.yaml,
#                               written here (not copied from upstream)
#   kafka_2.13-VERSION/LICENSE, NOTICE  taken from the kafka-clients jar
# Not included: bin/ (the platform's systemd unit runs
# `java ... -cp 'libs/*' kafka.Kafka config/server.properties` directly, the
# same command bin/kafka-run-class.sh builds), kafka-streams, connect-mirror,
# connect-file, trogdor, site-docs and the licenses/ directory of bundled
# third-party licences.
set -euo pipefail

readonly SCALA=2.13
readonly DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

die() { echo "kafka-dist: $*" >&2; exit 1; }

[[ $# -ge 2 && $# -le 3 ]] || die "usage: $0 VERSION OUTPUT [CACHE_DIR]"
version=$1
output=$2
cache=${3:-${KAFKA_DIST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-dist}}
read -r -a mvn_cmd <<<"${MVN:-mvn}"  # may carry options, e.g. MVN="mvn -o"
epoch=${SOURCE_DATE_EPOCH:-0}
with_connect=${KAFKA_DIST_CONNECT:-0}

[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([.-][0-9A-Za-z.-]+)?$ ]] || die "bad version: $version"
[[ ${version%%.*} -ge 4 ]] || die "only Kafka 4.x and later (KRaft, log4j2) are supported"
[[ $epoch =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be an integer"
[[ $with_connect == [01] ]] || die "KAFKA_DIST_CONNECT must be 0 or 1"

# kafka-tools depends on connect-runtime (only for connect-plugin-path), which
# drags in Jetty, Jersey and connect-api/-json/-transforms. A broker needs none
# of it, and some releases lack some of those artifacts on Maven Central
# (on 2026-12-07 connect-api/-json/-transforms 4.0.1 and connect-json/
# -transforms 4.2.2 were not found), so leave it out unless KAFKA_DIST_CONNECT=1.
tools_exclusions=
if [[ $with_connect == 0 ]]; then
    tools_exclusions='<exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions>'
fi
[[ ${#mvn_cmd[@]} -gt 0 ]] && command -v "${mvn_cmd[0]}" >/dev/null || die "mvn not found"

name=kafka_${SCALA}-${version}
if [[ -d $output || $output == */ ]]; then
    output=${output%/}/${name}.tgz
fi
mkdir -p "$(dirname -- "$output")" "$cache/m2"
output=$(cd "$(dirname -- "$output")" && pwd)/$(basename -- "$output")
cache=$(cd "$cache" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/kafka-dist.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
log=$work/mvn.log

mvn_run() {
    if ! "${mvn_cmd[@]}" -B -q -ntp -Dmaven.repo.local="$cache/m2" "$@" >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "mvn failed: $*"
    fi
}

# One throwaway POM; its dependency list is the broker plus the tools
# (StorageTool lives in kafka_2.13, MetadataQuorumCommand/TopicCommand in
# kafka-tools).
write_pom() {  # $1: extra dependency XML, $2: extra <build> XML
    cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafka-dist</groupId>
  <artifactId>kafka-libs</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${SCALA}</artifactId><version>${version}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>${version}</version>${tools_exclusions}</dependency>
$1  </dependencies>
$2</project>
EOF
}

dep() { printf '    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n' "$@"; }

# Pass 1: resolve what Kafka declares, to learn the log4j2 and SLF4J versions.
write_pom "" ""
mvn_run -f "$work/pom.xml" "$DEP_PLUGIN:list" -DincludeScope=runtime \
    -DoutputFile="$work/deps.txt" -DoutputAbsoluteArtifactFilename=false
ver_of() {  # groupId:artifactId -> version from the resolved list
    sed -n "s/^ *$1:jar:\([^:]*\):.*/\1/p" "$work/deps.txt" | sed -n 1p
}
log4j_ver=$(ver_of org.apache.logging.log4j:log4j-core)
slf4j_ver=$(ver_of org.slf4j:slf4j-api)
jackson_ver=$(ver_of com.fasterxml.jackson.core:jackson-databind)
[[ -n $slf4j_ver ]] || die "slf4j-api not in Kafka $version's runtime dependencies"
extra=
if [[ -z $log4j_ver ]]; then
    # Kafka 4.0.x POMs declare no log4j2 artifact at all (4.4.0's kafka-server
    # brings log4j-api and log4j-core): list them, at KAFKA_DIST_LOG4J.
    log4j_ver=${KAFKA_DIST_LOG4J:-2.24.3}
    extra+=$(dep org.apache.logging.log4j log4j-api "$log4j_ver")$'\n'
    extra+=$(dep org.apache.logging.log4j log4j-core "$log4j_ver")$'\n'
fi

# The binding must match the SLF4J API line: log4j-slf4j-impl for 1.7.x,
# log4j-slf4j2-impl for 2.x (the wrong one also falls back to the NOP logger).
if [[ $slf4j_ver == 1.* ]]; then binding=log4j-slf4j-impl; else binding=log4j-slf4j2-impl; fi
extra+=$(dep org.apache.logging.log4j "$binding" "$log4j_ver")
# config/log4j2.yaml needs jackson-dataformat-yaml; Kafka 4.x brings it, but
# list it if a release stops doing so.
if [[ -z $(ver_of com.fasterxml.jackson.dataformat:jackson-dataformat-yaml) ]]; then
    [[ -n $jackson_ver ]] || die "cannot pick a jackson-dataformat-yaml version"
    extra+=$'\n'$(dep com.fasterxml.jackson.dataformat jackson-dataformat-yaml "$jackson_ver")
fi

# Pass 2 (one mvn run): copy the whole runtime classpath into one flat libs/,
# and take LICENSE and NOTICE out of the kafka-clients jar.
top=$work/out/$name
mkdir -p "$top/libs" "$top/config"
IFS=: read -r _ dep_plugin_artifact dep_plugin_version <<<"$DEP_PLUGIN"
write_pom "$extra"$'\n' "  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>${dep_plugin_artifact}</artifactId><version>${dep_plugin_version}</version>
    <executions>
      <execution><id>libs</id><phase>package</phase><goals><goal>copy-dependencies</goal></goals>
        <configuration><includeScope>runtime</includeScope><outputDirectory>${top}/libs</outputDirectory></configuration></execution>
      <execution><id>meta</id><phase>package</phase><goals><goal>unpack</goal></goals>
        <configuration><artifactItems><artifactItem><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>${version}</version></artifactItem></artifactItems>
          <includes>LICENSE,NOTICE</includes><outputDirectory>${work}/meta</outputDirectory></configuration></execution>
    </executions>
  </plugin></plugins></build>
"
mvn_run -f "$work/pom.xml" package
for f in LICENSE NOTICE; do
    if [[ -f $work/meta/$f ]]; then cp "$work/meta/$f" "$top/$f"; fi
done

# Sanity: the core jars are there, at exactly this version, and no other
# Kafka version slipped in through dependency mediation.
for a in "kafka_${SCALA}" kafka-server kafka-clients kafka-storage kafka-metadata kafka-raft \
         kafka-tools kafka-group-coordinator kafka-transaction-coordinator \
         kafka-share-coordinator kafka-coordinator-common kafka-server-common; do
    [[ -f $top/libs/$a-$version.jar ]] || die "missing libs/$a-$version.jar"
done
shopt -s nullglob
for j in "$top"/libs/kafka*.jar "$top"/libs/connect-*.jar; do
    [[ $(basename -- "$j") == *"-$version.jar" ]] || die "unexpected version: $(basename -- "$j")"
done
shopt -u nullglob
for a in log4j-api log4j-core "$binding"; do
    [[ -f $top/libs/$a-$log4j_ver.jar ]] || die "missing libs/$a-$log4j_ver.jar"
done

cat >"$top/config/server.properties" <<'EOF'
# Minimal single-node KRaft server (broker and controller in one process).
# Deployments template their own file; this one is for trying the tarball:
#   java -cp 'libs/*' kafka.tools.StorageTool format -t "$(java -cp 'libs/*' kafka.tools.StorageTool random-uuid)" \
#        -c config/server.properties --standalone
#   java -Xmx1g -Dlog4j2.configurationFile=config/log4j2.yaml -cp 'libs/*' kafka.Kafka config/server.properties
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=/tmp/kafka-kraft-data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF

cat >"$top/config/log4j2.yaml" <<'EOF'
# Console logging; systemd/journald adds timestamps and rotation.
Configuration:
  name: kafka
  Appenders:
    Console:
      name: STDOUT
      target: SYSTEM_OUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
      - name: state.change.logger
        level: INFO
EOF

tmp_out=$work/$name.tgz
tar --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
    --mode='u+rwX,go+rX,go-w' --mtime="@$epoch" \
    -C "$work/out" -cf - "$name" | gzip -9n >"$tmp_out"

if ! cmp -s "$tmp_out" "$output"; then
    cp "$tmp_out" "$output.tmp.$$"
    mv -f "$output.tmp.$$" "$output"
fi
sha512sum "$output"
