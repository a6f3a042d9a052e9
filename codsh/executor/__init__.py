"""Running one shard on one node: the hardened container, its two streams, and the per-file loop."""
