"""The roof: the run loop, store, run-directory lock, shards, fingerprints, adaptive-policy loading, CLI and W&B mirror."""
