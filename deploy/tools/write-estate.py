#!/usr/bin/env python3
"""Writes the configuration of an estate of N instances served at 127.0.0.1:PORT, for
measure-memory.sh and measure-once.sh: 10 regions (1 below 10 instances), RDS MySQL ids, a
60 s poll interval, a 1 d lookback and the rate limit out of the way.

    write-estate.py N PORT > estate.yaml
"""

import sys

n, port = int(sys.argv[1]), sys.argv[2]
regions = 10 if n >= 10 else 1
print("poll_interval: 60s\nlookback: 1d\nrate_limit_per_region: 10000\nregions:")
for r in range(regions):
    print(f"  - region_id: mem-region-{r:02}\n    endpoint: http://127.0.0.1:{port}\n    instances:")
    for i in range(r, n, regions):
        print(f"      - instance_id: rm-mem{i:05}")
