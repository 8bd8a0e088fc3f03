"""Benchmarks at scale: each reports throughput, latency percentiles and peak memory as JSON."""
