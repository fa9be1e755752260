#!/bin/sh
# Runs a command with glibc's allocator told to keep freed blocks of up to 16 MB.
#
# Every training step receives and sends frames of 4.8 MB (the default model's parameters
# and gradients), and ws allocates a fresh buffer for each. By default glibc hands such a
# buffer back to the OS when it is freed (mmap/munmap), so the next one page-faults in
# again: 15 ms a frame on the 2-core VM measured, three frames on the path of every step.
# Kept in the heap, a freed frame's memory serves the next one (0.4 ms). The user's own
# GLIBC_TUNABLES come last and win; other C libraries ignore the variable.
GLIBC_TUNABLES="glibc.malloc.mmap_threshold=16777216:glibc.malloc.trim_threshold=33554432${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"
export GLIBC_TUNABLES
exec "$@"
