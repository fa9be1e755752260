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
#   scripts/netns/cluster.sh prune             (removes every cluster whose ID is kPID with PID
#                                               no longer running: a killed test run's leftovers)
#
#   convoy-ID-c    coordinator node   10.78.K.1 on the link to worker node K
#   convoy-ID-nK   worker node K      10.78.K.2, interface eth0
# NOTE: interface names are at most 15 characters; namespace names are not limited.
set -euo pipefail
verb="$1"

# Kills what runs in namespace $1 and deletes it, with its /etc/netns folder.
remove() {
  local ns="$1"
  if ip netns list | grep -qw "$ns"; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" || true
  fi
  rm -rf "/etc/netns/$ns"
}

down() {
  remove "convoy-$1-c"
  for k in $(seq 1 "$2"); do remove "convoy-$1-n$k"; done
}

case "$verb" in
  down) down "$2" "$3" ;;
  prune)
    # The test names its cluster k<its process id>; a cluster whose process is gone is a leftover
    # (a run killed before its cleanup). Clusters of running processes are someone's live test.
    for ns in $(ip netns list | awk '{print $1}' | grep -E '^convoy-k[0-9]+-(c|n[0-9]+)$' || true); do
      pid="${ns#convoy-k}"
      pid="${pid%%-*}"
      if [ ! -d "/proc/$pid" ]; then remove "$ns"; fi
    done
    for folder in /etc/netns/convoy-k*; do
      [ -e "$folder" ] || continue
      ns="$(basename "$folder")"
      pid="${ns#convoy-k}"
      pid="${pid%%-*}"
      if [ ! -d "/proc/$pid" ] && ! ip netns list | grep -qw "$ns"; then rm -rf "$folder"; fi
    done
    ;;
  up)
    id="$2" count="$3" service="$4"
    c="convoy-$id-c"
    down "$id" "$count" 2>/dev/null || true
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
  *) echo "usage: $0 up ID N SERVICE | down ID N | prune" >&2; exit 2 ;;
esac
