"""Benchmarks (``make bench``): throughput and peak memory as ratios to a raw limit measured in the same run."""
