#!/usr/bin/env bash
# Network namespaces as the nodes of a small cluster, for tests/deploy: a coordinator node
# and N worker nodes, each worker node joined to the coordinator's by its own veth pair
# (a point-to-point link with its own /24, unshaped). On each worker node the coordinator's
# Service name resolves to the coordinator node's address of that link, through the
# node's own /etc/hosts (`ip netns exec` bind-mounts /etc/netns/NS/hosts over /etc/hosts),
# so a worker connects to the address its manifest writes (ws://SERVICE:PORT).
#
#   scripts/netns/cluster.sh up ID N SERVICE   (root; ID: a few letters/digits, unique per run)
#   scripts/netns/cluster.sh down ID N         (also kills what still runs in them; safe twice)
#
#   convoy-ID-c    coordinator node   10.78.K.1 on the link to worker node K
#   convoy-ID-nK   worker node K      10.78.K.2, interface eth0
# NOTE: interface names are at most 15 characters.
set -euo pipefail
verb="$1" id="$2" count="$3"
c="convoy-$id-c"

down() {
  for ns in "$c" $(seq -f "convoy-$id-n%g" 1 "$count"); do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" || true
    fi
    rm -rf "/etc/netns/$ns"
  done
}

case "$verb" in
  down) down ;;
  up)
    service="$4"
    down 2>/dev/null || true
    ip netns add "$c"
    ip -n "$c" link set lo up
    for k in $(seq 1 "$count"); do
      n="convoy-$id-n$k"
      ip netns add "$n"
      ip -n "$n" link set lo up
      ip link add "to-n$k" netns "$c" type veth peer name eth0 netns "$n"
      ip -n "$c" addr add "10.78.$k.1/24" dev "to-n$k"
      ip -n "$n" addr add "10.78.$k.2/24" dev eth0
      ip -n "$c" link set "to-n$k" up
      ip -n "$n" link set eth0 up
      mkdir -p "/etc/netns/$n"
      printf '127.0.0.1 localhost\n10.78.%s.1 %s\n' "$k" "$service" > "/etc/netns/$n/hosts"
    done
    echo "cluster $id: coordinator node $c, $count worker nodes"
    ;;
  *) echo "usage: $0 up ID N SERVICE | down ID N" >&2; exit 2 ;;
esac
