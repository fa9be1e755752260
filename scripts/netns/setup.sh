#!/usr/bin/env bash
# Builds three network namespaces for the across-hosts test: a coordinator host and two
# worker hosts, each joined to the coordinator by its own veth pair (a point-to-point
# link with its own /24), every link shaped to 1 Gbit/s with 2 ms delay each way.
#
#   scripts/netns/setup.sh ID     (root; ID: a few letters/digits, unique per run)
#
#   convoy-ID-c   coordinator  10.77.1.1 (link 1)  10.77.2.1 (link 2)
#   convoy-ID-w1  worker 1     10.77.1.2           interface cv1w-ID
#   convoy-ID-w2  worker 2     10.77.2.2           interface cv2w-ID
#
# Prints one line: "shaping netem" (kernel delay + rate) or "shaping tbf" (the kernel has
# no netem: rate only; the test then adds the 2 ms in a userspace relay, delay-relay.mjs).
# NOTE: interface names are at most 15 characters.
set -euo pipefail
id="$1"
c="convoy-$id-c"
"$(dirname "$0")/teardown.sh" "$id" 2>/dev/null || true
ip netns add "$c"
ip -n "$c" link set lo up
shaping=netem
for k in 1 2; do
  w="convoy-$id-w$k"
  ip netns add "$w"
  ip -n "$w" link set lo up
  ip link add "cv${k}c-$id" netns "$c" type veth peer name "cv${k}w-$id" netns "$w"
  ip -n "$c" addr add "10.77.$k.1/24" dev "cv${k}c-$id"
  ip -n "$w" addr add "10.77.$k.2/24" dev "cv${k}w-$id"
  ip -n "$c" link set "cv${k}c-$id" up
  ip -n "$w" link set "cv${k}w-$id" up
  for end in "$c cv${k}c-$id" "$w cv${k}w-$id"; do
    set -- $end
    if [ "$shaping" = netem ] && ip netns exec "$1" tc qdisc add dev "$2" root netem delay 2ms rate 1gbit limit 100000 2>/dev/null; then
      :
    else
      shaping=tbf
      ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate 1gbit burst 256kb latency 100ms
    fi
  done
done
# A kernel without netem took tbf on the later links: make every link the same.
if [ "$shaping" = tbf ]; then
  for k in 1 2; do
    ip netns exec "$c" tc qdisc replace dev "cv${k}c-$id" root tbf rate 1gbit burst 256kb latency 100ms
    ip netns exec "convoy-$id-w$k" tc qdisc replace dev "cv${k}w-$id" root tbf rate 1gbit burst 256kb latency 100ms
  done
fi
echo "shaping $shaping"
