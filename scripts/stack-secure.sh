# Sourced by scripts/stack for `up|down|status|env --secure`: the same Kafka and redis-server,
# locked down, on their own ports and under their own directory, so they run beside the plain
# stack.
#
#   Kafka  SASL_SSL listener (SCRAM-SHA-512 over TLS) on GK_SECURE_KAFKA_PORT (9094); the KRaft
#          controller on its own loopback listener GK_SECURE_KAFKA_CONTROLLER_PORT (9095), TLS
#          with client certificates required (only the broker's certificate gets in);
#          StandardAuthorizer, allow.everyone.if.no.acl.found=false, super users: `admin` (this
#          script's, to grant the ACLs) and the broker itself. SCRAM users (bootstrapped by
#          `kafka-storage format --add-scram`): admin, gatekeeper, dialer, crm, carrier,
#          console, and `tester` (no ACL: the tests grant it one to play a misconfiguration).
#          ACLs: gatekeeper/kafka_acls.py (for GK_SECURE_TOPIC_PREFIX, default empty, and the
#          app id GK_SECURE_APP_ID, default gatekeeper).
#   Redis  TLS only (tls-port GK_SECURE_REDIS_PORT (6380), port 0); the default user is off;
#          users `admin` (this script's) and `gatekeeper`: the commands the code sends (its Lua
#          scripts, INFO, the memory guard's SET/EXISTS/UNLINK/SCAN, the lock) on keys gk:*,
#          nothing else (no FLUSHALL, FLUSHDB, CONFIG, KEYS, DEBUG).
#
# `scripts/stack cluster up|down|status --secure`: a 3-master Redis Cluster over TLS only (client
# and cluster bus; ports GK_SECURE_CLUSTER_PORTS, default 7011 7012 7013), with the same users
# and certificates; `up` prints GK_SECURE_REDIS_CLUSTER, the gatekeeper principal's
# rediss+cluster:// URL.
#
# Under $GK_STACK_DIR/secure/: tls/ (ca.pem, ca.key, server.pem, server.key, server.p12: made
# once), secrets/*.password (made once, mode 600), kafka/ (config, data, logs), redis/.
# The Kafka jars are the plain stack's ($GK_STACK_DIR/kafka/lib).

SECURE=1
SDIR="$STACK_DIR/secure"
TLS="$SDIR/tls"
SECRETS="$SDIR/secrets"
KAFKA_PORT="${GK_SECURE_KAFKA_PORT:-9094}"
KAFKA_CONTROLLER_PORT="${GK_SECURE_KAFKA_CONTROLLER_PORT:-9095}"
REDIS_PORT="${GK_SECURE_REDIS_PORT:-6380}"
SECURE_TOPIC_PREFIX="${GK_SECURE_TOPIC_PREFIX:-}"
SECURE_APP_ID="${GK_SECURE_APP_ID:-gatekeeper}"
KDIR="$SDIR/kafka"; KCONF="$KDIR/config"; KDATA="$KDIR/data"; KLOGS="$KDIR/logs"
KPID="$KDIR/kafka.pid"; KPORTS="$KDIR/kafka.ports"
RDIR="$SDIR/redis"; RPID="$RDIR/redis.pid"; ROWNED="$RDIR/redis.started-by-stack"
KAFKA_USERS="admin gatekeeper dialer crm carrier console tester"
BROKER_CN=gatekeeper-stack-broker

password() { cat "$SECRETS/$1.password"; }

# secure_secrets: every password once (openssl rand), mode 600; kept across up/down.
secure_secrets() {
    mkdir -p "$SECRETS"; chmod 700 "$SECRETS"
    local name
    for name in keystore redis-admin redis-gatekeeper $(printf 'kafka-%s ' $KAFKA_USERS); do
        [[ -s $SECRETS/$name.password ]] && continue
        (umask 077; openssl rand -hex 24 >"$SECRETS/$name.password")
    done
}

# secure_tls: a CA and one server certificate (127.0.0.1, localhost) for the broker and Redis,
# made once (also for the hosts `kafka` and `redis` of docker-compose.secure.yml). The
# certificate is also the broker's client certificate on the controller listener.
secure_tls() {
    mkdir -p "$TLS"; chmod 700 "$TLS"
    [[ -s $TLS/server.p12 ]] && return 0
    local t0; t0=$(now_ms)
    (
        umask 077; cd "$TLS"
        openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=gatekeeper-stack-ca" \
            -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$BROKER_CN" -keyout server.key \
            -out server.csr 2>/dev/null
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kafka,DNS:redis" \
            "extendedKeyUsage=serverAuth,clientAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
            -extfile server.ext -out server.pem 2>/dev/null
        openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -name broker \
            -passout "pass:$(password keystore)" -out server.p12
        rm -f server.csr server.ext
        chmod 644 ca.pem
    ) || die "secure: generating the CA and certificates in $TLS failed"
    log "secure: CA and server certificate in $TLS ($(secs_since "$t0")s)"
}

# Appended to the plain server.properties (a later key wins): SASL_SSL + mTLS controller + ACLs.
secure_kafka_properties() {
    cat <<EOF

# ---- --secure (scripts/stack-secure.sh): these lines override the plain ones above
listeners=SASL_SSL://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://$HOST:$KAFKA_PORT
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password kafka-admin)";
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS/server.p12
ssl.keystore.password=$(password keystore)
ssl.key.password=$(password keystore)
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.pem
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:CN=$BROKER_CN
EOF
}

# admin credentials for wait_kafka.py and gatekeeper.kafka_acls (this process only)
secure_admin_env() {
    export GATEKEEPER_KAFKA_SECURITY_PROTOCOL=SASL_SSL GATEKEEPER_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
    export GATEKEEPER_KAFKA_USERNAME=admin GATEKEEPER_KAFKA_PASSWORD_FILE="$SECRETS/kafka-admin.password"
    export GATEKEEPER_KAFKA_CA_FILE="$TLS/ca.pem"
    unset GATEKEEPER_KAFKA_PASSWORD
}

secure_kafka_up() {
    local fresh=$1 user py
    FORMAT_EXTRA=()
    for user in $KAFKA_USERS; do
        FORMAT_EXTRA+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(password "kafka-$user")]")
    done
    secure_admin_env
    kafka_up "$fresh"
    chmod 600 "$KCONF/server.properties"
    py=$(python_with_aiokafka) || die "secure: granting the ACLs needs the project's venv (make venv)"
    GATEKEEPER_BROKER="kafka://$HOST:$KAFKA_PORT" "$py" -m gatekeeper.kafka_acls \
        --topic-prefix "$SECURE_TOPIC_PREFIX" --app-id "$SECURE_APP_ID" \
        || die "secure: granting the Kafka ACLs failed"
}

redis_tls_cli() { # redis_tls_cli USER ARGS...: redis-cli over TLS as USER
    local user=$1; shift
    REDISCLI_AUTH="$(password "redis-$user")" redis-cli --tls --cacert "$TLS/ca.pem" \
        -h "$HOST" -p "$REDIS_PORT" --user "$user" "$@"
}

secure_redis_acl() {
    cat <<EOF
user default off
user admin on #$(printf '%s' "$(password redis-admin)" | sha256sum | cut -d' ' -f1) ~* &* +@all
user gatekeeper on #$(printf '%s' "$(password redis-gatekeeper)" | sha256sum | cut -d' ' -f1) resetkeys ~gk:* resetchannels -@all +ping +echo +hello +auth +select +info +client|setname +client|id +evalsha +eval +script|load +script|exists +get +set +del +unlink +exists +hset +hget +hgetall +hmget +hdel +hkeys +hexists +hincrby +expire +ttl +type +scan +readonly +zadd +zcard +zrangebyscore +zrem +cluster|slots +cluster|shards +command
EOF
}

secure_redis_up() {
    mkdir -p "$RDIR"
    (umask 077; secure_redis_acl >"$RDIR/users.acl")
    if redis_owned; then
        [[ $(redis_owned_port) == "$REDIS_PORT" ]] \
            || die "redis (secure): runs on port $(redis_owned_port), not $REDIS_PORT; 'scripts/stack down --secure' first"
        redis_tls_cli admin acl load >/dev/null || die "redis (secure): ACL LOAD failed"
        log "redis (secure): already running (pid $(<"$RPID"), TLS port $REDIS_PORT); users reloaded"
        return 0
    fi
    port_open "$REDIS_PORT" && die "redis (secure): port $HOST:$REDIS_PORT is in use by a process this script did not start"
    command -v redis-server >/dev/null 2>&1 || redis_up_install_only
    rm -f "$RPID"
    local t0 i; t0=$(now_ms)
    redis-server --bind "$HOST" --port 0 --tls-port "$REDIS_PORT" \
        --tls-cert-file "$TLS/server.pem" --tls-key-file "$TLS/server.key" \
        --tls-ca-cert-file "$TLS/ca.pem" --tls-auth-clients no --aclfile "$RDIR/users.acl" \
        --save '' --appendonly yes --appendfsync "$REDIS_FSYNC" \
        --daemonize yes --pidfile "$RPID" --logfile "$RDIR/redis.log" --dir "$RDIR" \
        --protected-mode yes --databases 16
    for i in $(seq 1 $((REDIS_START_TIMEOUT * 10))); do
        if [[ $(redis_tls_cli admin ping 2>/dev/null) == PONG ]]; then
            echo "$REDIS_PORT" >"$ROWNED"
            log "redis (secure): up (pid $(cat "$RPID" 2>/dev/null || echo '?'), TLS port $REDIS_PORT, default user off, $(secs_since "$t0")s)"
            return 0
        fi
        if (( i > 10 )) && ! pid_alive "$RPID" redis-server; then break; fi
        sleep 0.1
    done
    tail -n 20 "$RDIR/redis.log" >&2 || true
    die "redis (secure) did not answer PING over TLS on $HOST:$REDIS_PORT within ${REDIS_START_TIMEOUT}s"
}

secure_cmd_up() {
    local fresh=0 a
    for a in "$@"; do
        case $a in
            --fresh) fresh=1 ;;
            *) die "up --secure: unknown option $a" ;;
        esac
    done
    command -v openssl >/dev/null || die "secure: openssl not found (needed once for the certificates)"
    mkdir -p "$SDIR"
    secure_secrets
    secure_tls
    secure_redis_up
    secure_kafka_up "$fresh"
    secure_cmd_env
}

secure_cmd_down() {
    local purge=0 a
    for a in "$@"; do
        case $a in
            --purge) purge=1 ;;
            *) die "down --secure: unknown option $a" ;;
        esac
    done
    kafka_down
    if redis_owned; then stop_pid "$(<"$RPID")" "redis (secure, port $(redis_owned_port))"
    else log "redis (secure): not running"; fi
    rm -f "$RPID" "$ROWNED"
    if [[ $purge == 1 ]]; then
        rm -rf "$KDATA" "$KDIR/cluster.id" "$KLOGS" "$RDIR"
        log "purged the secure stack's Kafka data and Redis dir (certificates and passwords in $SDIR kept)"
    fi
}

secure_cmd_status() {
    local rc=0
    secure_admin_env
    kafka_status || rc=1
    if redis_owned && [[ $(redis_tls_cli admin ping 2>/dev/null) == PONG ]]; then
        echo "redis  up    pid $(<"$RPID")  TLS port $(redis_owned_port)  (secure, started by stack)"
    else
        echo "redis  down  TLS port $REDIS_PORT (secure)"; rc=1
    fi
    return $rc
}

# What a client of the `gatekeeper` principal needs (no secret in the output: files only).
# GK_SECURE_DIR lets the tests find the other principals' password files.
secure_cmd_env() {
    cat <<EOF
export GATEKEEPER_BROKER=kafka://$HOST:$KAFKA_PORT
export GATEKEEPER_KAFKA_SECURITY_PROTOCOL=SASL_SSL
export GATEKEEPER_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
export GATEKEEPER_KAFKA_USERNAME=gatekeeper
export GATEKEEPER_KAFKA_PASSWORD_FILE=$SECRETS/kafka-gatekeeper.password
export GATEKEEPER_KAFKA_CA_FILE=$TLS/ca.pem
export GATEKEEPER_REDIS=rediss://gatekeeper@$HOST:$REDIS_PORT/0
export GATEKEEPER_REDIS_PASSWORD_FILE=$SECRETS/redis-gatekeeper.password
export GATEKEEPER_REDIS_CA_FILE=$TLS/ca.pem
export GK_SECURE_DIR=$SDIR
EOF
}

# secure_cmd_secrets: only the CA, certificates, passwords and the files docker-compose.secure.yml
# mounts (under $SDIR/compose/: the broker's server.properties for the hosts kafka/redis, the
# Redis ACL file); starts nothing.
secure_cmd_secrets() {
    mkdir -p "$SDIR/compose"
    secure_secrets
    secure_tls
    local out="$SDIR/compose"
    (
        umask 077
        HOST=0.0.0.0 KCONF="$out" KAFKA_PORT=9092 KAFKA_CONTROLLER_PORT=9093 TLS=/run/secrets/tls
        kafka_write_config
        sed -i -e 's#^controller.quorum.voters=.*#controller.quorum.voters=1@kafka:9093#' \
            -e 's#^log.dirs=.*#log.dirs=/var/lib/kafka/data#' \
            -e 's#^advertised.listeners=.*#advertised.listeners=SASL_SSL://kafka:9092#' \
            "$out/server.properties"
        secure_redis_acl >"$out/redis-users.acl"
    )
    rm -f "$out/log4j2.properties"
    log "secure: CA, certificates, passwords and compose files in $SDIR (nothing started)"
}

# ---------------------------------------------------------------- Redis Cluster over TLS
SECURE_CLUSTER_PORTS="${GK_SECURE_CLUSTER_PORTS:-7011 7012 7013}"
SCDIR="$SDIR/redis-cluster"

cluster_tls_cli() { # cluster_tls_cli PORT ARGS...: redis_tls_cli as admin, to a node's port
    local port=$1; shift
    REDIS_PORT=$port redis_tls_cli admin "$@"
}

cluster_tls_ok() { cluster_tls_cli "$1" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; }

secure_cluster_up() {
    command -v openssl >/dev/null || die "secure: openssl not found (needed once for the certificates)"
    command -v redis-server >/dev/null 2>&1 || redis_up_install_only
    mkdir -p "$SCDIR"
    secure_secrets
    secure_tls
    (umask 077; secure_redis_acl >"$SCDIR/users.acl")
    local port nodes=() t0 i; t0=$(now_ms)
    for port in $SECURE_CLUSTER_PORTS; do
        nodes+=("$HOST:$port")
        if [[ $(cluster_tls_cli "$port" ping 2>/dev/null) == PONG ]]; then continue; fi
        port_open "$port" && die "redis cluster (secure): port $HOST:$port is in use by a process this script did not start"
        mkdir -p "$SCDIR/$port"
        redis-server --bind "$HOST" --port 0 --tls-port "$port" --tls-cluster yes \
            --tls-cert-file "$TLS/server.pem" --tls-key-file "$TLS/server.key" \
            --tls-ca-cert-file "$TLS/ca.pem" --tls-auth-clients no --aclfile "$SCDIR/users.acl" \
            --cluster-enabled yes --cluster-config-file "$SCDIR/$port/nodes.conf" \
            --cluster-node-timeout 2000 --save '' --appendonly yes --appendfsync "$REDIS_FSYNC" \
            --daemonize yes --pidfile "$SCDIR/$port/redis.pid" \
            --logfile "$SCDIR/$port/redis.log" --dir "$SCDIR/$port" --protected-mode yes
        for i in $(seq 1 $((REDIS_START_TIMEOUT * 10))); do
            [[ $(cluster_tls_cli "$port" ping 2>/dev/null) == PONG ]] && break; sleep 0.1
        done
        [[ $(cluster_tls_cli "$port" ping 2>/dev/null) == PONG ]] \
            || die "redis cluster (secure): node $port did not start (see $SCDIR/$port/redis.log)"
    done
    local first=${SECURE_CLUSTER_PORTS%% *}
    for i in $(seq 1 50); do cluster_tls_ok "$first" && break; sleep 0.1; done
    if ! cluster_tls_ok "$first"; then
        REDISCLI_AUTH="$(password redis-admin)" redis-cli --tls --cacert "$TLS/ca.pem" \
            --user admin --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
            >"$SCDIR/create.log" 2>&1 \
            || { cat "$SCDIR/create.log" >&2; die "redis cluster (secure): create failed ('scripts/stack cluster down --purge --secure' starts afresh)"; }
    fi
    for i in $(seq 1 150); do cluster_tls_ok "$first" && break; sleep 0.1; done
    cluster_tls_ok "$first" || die "redis cluster (secure): not ok (see $SCDIR/*/redis.log)"
    log "redis cluster (secure): ok on TLS ports $SECURE_CLUSTER_PORTS, default user off, in $(secs_since "$t0")s"
    secure_cluster_env
}

secure_cluster_env() {
    cat <<EOF
export GK_SECURE_REDIS_CLUSTER=rediss+cluster://gatekeeper@$HOST:${SECURE_CLUSTER_PORTS%% *}
export GATEKEEPER_REDIS_PASSWORD_FILE=$SECRETS/redis-gatekeeper.password
export GATEKEEPER_REDIS_CA_FILE=$TLS/ca.pem
EOF
}

secure_cluster_down() {
    local port purge=0 a
    for a in "$@"; do
        case $a in
            --purge) purge=1 ;;
            *) die "cluster down --secure: unknown option $a" ;;
        esac
    done
    for port in $SECURE_CLUSTER_PORTS; do
        if [[ -s $SCDIR/$port/redis.pid ]] && pid_alive "$SCDIR/$port/redis.pid" redis-server; then
            stop_pid "$(<"$SCDIR/$port/redis.pid")" "redis cluster node $port (secure)" || true
        fi
        if [[ $purge == 1 ]]; then rm -rf "${SCDIR:?}/$port"; fi
    done
}

secure_cmd_cluster() {
    local what=${1:-status}
    [[ $# -gt 0 ]] && shift
    case $what in
        up) secure_cluster_up ;;
        down) secure_cluster_down "$@" ;;
        status)
            local port rc=0
            for port in $SECURE_CLUSTER_PORTS; do
                if [[ $(cluster_tls_cli "$port" ping 2>/dev/null) == PONG ]]; then
                    echo "cluster node $port up (secure, TLS)"
                else echo "cluster node $port down (secure)"; rc=1; fi
            done
            return $rc ;;
        *) die "usage: scripts/stack cluster up|down [--purge]|status --secure" ;;
    esac
}
