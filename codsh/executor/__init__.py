"""Running one shard on one node: the hardened container, its FIFOs, and the per-file loop."""
