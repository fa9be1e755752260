#!/bin/sh
# Runs a TypeScript entry point (node with tsx's loader) tuned for what a training process does: receive and
# send 4.8 MB frames (the default model's parameters and gradients) every step with a JS
# heap of under 10 MB. What each setting saves is measured by `pnpm bench:scale`
# (bench/README.md; the runs behind it are in bench/RESULTS.md).
#
# GLIBC_TUNABLES: ws allocates a fresh buffer for every large frame it receives (a worker's
# parameters, the coordinator's gradients), and glibc gives such a buffer back to the OS
# when it is freed, so the next one page-faults in again, on the path of every step (what
# a page fault costs: bench/README.md). Keeping freed blocks of up to 16 MB in the heap lets
# the next frame reuse memory already touched. The user's own GLIBC_TUNABLES come last and
# win; other C libraries ignore it. (Workers send with the masking key 0, so ws makes no
# masked copy of what they send.)
#
# --initial-old-space-size=64: with V8's default the small heap starts a mark-compact on
# nearly every step, on the path between a worker's answer and its next parameters; with
# 64 MB it runs a few times less often. Workers started by the coordinator get the same
# flag (packages/coordinator/src/local-workers.ts).
GLIBC_TUNABLES="glibc.malloc.mmap_threshold=16777216:glibc.malloc.trim_threshold=33554432${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"
export GLIBC_TUNABLES
#
# NOTE: `exec node --import tsx`, not `tsx`: the tsx command is a parent process that relays
# the signals it gets to its node child, so a Ctrl-C in a terminal (sent to the whole
# foreground process group) reached the coordinator twice, the second read as "quit at
# once". With exec, this script's process becomes node itself: nothing between the
# terminal, pnpm and Convoy relays a signal a second time except pnpm (cli/run.ts).
exec node --initial-old-space-size=64 --import tsx "$@"
