#!/usr/bin/env bash
# Removes the namespaces of scripts/netns/setup.sh ID or shared-link.sh ID (every
# convoy-ID-*; the veth pairs and the bridge go with them). Kills what still runs inside
# them first. Safe to run twice.
id="$1"
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^convoy-$id-[a-z0-9]+$"); do
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$ns" || true
done
