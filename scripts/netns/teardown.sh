#!/usr/bin/env bash
# Removes the namespaces of scripts/netns/setup.sh ID (the veth pairs go with them).
# Kills what still runs inside them first. Safe to run twice.
id="$1"
for ns in "convoy-$id-c" "convoy-$id-w1" "convoy-$id-w2"; do
  if ip netns list | grep -qw "$ns"; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" || true
  fi
done
