#!/usr/bin/env python3
"""Writes the core target's seeds (Fuzz/corpus/core/): one per policy, with and without
expiry, each a header (larder_core_fuzz.c's setup) and a fixed mix of operations that fills a
small core, evicts, touches, expires and changes the budget, so every policy's eviction paths
are covered from the first run. Deterministic: rerun it to get the same files."""
import os
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "corpus", "core")
os.makedirs(out, exist_ok=True)
names = ["lru", "wtinylfu", "s3fifo", "wtinylfu-fixed"]
for policy in range(4):
    for expiry in (0, 1):
        rng = random.Random(policy * 2 + expiry)
        # config: policy (bits 0-1), expiry (bit 2), the caller's block (bit 3); size 12 -> capacity 13;
        # collisions: mixed (4); a hash seed.
        data = bytearray([policy | expiry << 2 | (policy & 1) << 3, 12, 4]) + rng.randbytes(8)
        for _ in range(160):
            op = rng.choice([0, 0, 0, 1, 3, 3, 4, 6, 7, 9, 10, 11, 11, 12, 13, 14, 15])
            if op == 13:  # a budget: a small fixed one or none
                data += bytes([op, rng.choice([0, 2]), rng.randrange(256), 0])
                continue
            key = rng.randrange(24)  # more keys than the capacity: evictions
            data += bytes([op, key]) + rng.randbytes(4)
        with open(os.path.join(out, f"{names[policy]}{'-expiry' if expiry else ''}"), "wb") as f:
            f.write(data)
