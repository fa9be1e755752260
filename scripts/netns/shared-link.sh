#!/usr/bin/env bash
# Builds network namespaces for bench/links.ts: a coordinator host and HOSTS worker hosts on
# one switch (a bridge in a namespace of its own), as machines on a LAN. Every host's link
# to the switch is shaped to RATE each way, the coordinator's too: all workers share the
# coordinator's link, as they would share its one network card.
#
#   scripts/netns/shared-link.sh ID HOSTS RATE DELAY_MS    (root; e.g. l42 2 100mbit 20)
#
#   convoy-ID-s   the switch: bridge br0
#   convoy-ID-c   coordinator  10.78.0.1    interface cvc-ID  (cvcs-ID on the switch)
#   convoy-ID-wK  worker K     10.78.0.1K   interface cvKw-ID (cvKs-ID on the switch), K = 1..HOSTS
#
# DELAY_MS one way between a worker and the coordinator: netem on the workers' links when
# the kernel has it; otherwise none here, and bench/links.ts runs scripts/netns/delay-relay.mjs
# in each worker host. Prints one line: "shaping netem" or "shaping tbf" (rate only).
# Undo with scripts/netns/teardown.sh ID. NOTE: interface names are at most 15 characters.
set -euo pipefail
id="$1"; hosts="$2"; rate="$3"; delay="$4"
switch="convoy-$id-s"
c="convoy-$id-c"
"$(dirname "$0")/teardown.sh" "$id" 2>/dev/null || true
# tbf needs a bucket of at least one timer tick of the rate (rate/250 at HZ=250), and a queue
# of 100 ms of the rate, as a switch port buffers.
rate_bits=$(case "$rate" in *gbit) echo $(( ${rate%gbit} * 1000000000 ));; *mbit) echo $(( ${rate%mbit} * 1000000 ));; *kbit) echo $(( ${rate%kbit} * 1000 ));; *) echo "$rate";; esac)
burst=$(( rate_bits / 8 / 250 )); [ "$burst" -lt 16384 ] && burst=16384
shape() { # NAMESPACE DEVICE [netem]
  if [ "${3:-}" = netem ] && [ "$shaping" = netem ]; then
    ip netns exec "$1" tc qdisc add dev "$2" root netem delay "${delay}ms" rate "$rate" limit 100000 2>/dev/null && return 0
    shaping=tbf
  fi
  ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate "$rate" burst "$burst" latency 100ms
}
shaping=netem
ip netns add "$switch"
ip -n "$switch" link set lo up
ip -n "$switch" link add br0 type bridge
ip -n "$switch" link set br0 up
ip netns add "$c"
ip -n "$c" link set lo up
ip link add "cvc-$id" netns "$c" type veth peer name "cvcs-$id" netns "$switch"
ip -n "$c" addr add 10.78.0.1/24 dev "cvc-$id"
ip -n "$c" link set "cvc-$id" up
ip -n "$switch" link set "cvcs-$id" master br0 up
shape "$c" "cvc-$id"
shape "$switch" "cvcs-$id"
for k in $(seq 1 "$hosts"); do
  w="convoy-$id-w$k"
  ip netns add "$w"
  ip -n "$w" link set lo up
  ip link add "cv${k}w-$id" netns "$w" type veth peer name "cv${k}s-$id" netns "$switch"
  ip -n "$w" addr add "10.78.0.1$k/24" dev "cv${k}w-$id"
  ip -n "$w" link set "cv${k}w-$id" up
  ip -n "$switch" link set "cv${k}s-$id" master br0 up
  shape "$w" "cv${k}w-$id" netem
  shape "$switch" "cv${k}s-$id" netem
done
# A kernel without netem took tbf after the first try: every worker link the same (tbf).
if [ "$shaping" = tbf ]; then
  for k in $(seq 1 "$hosts"); do
    shape "convoy-$id-w$k" "cv${k}w-$id"
    shape "$switch" "cv${k}s-$id"
  done
fi
echo "shaping $shaping"
