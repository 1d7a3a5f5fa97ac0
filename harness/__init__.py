"""ttc harness: contracts, records, generators, the run loop and the CLI."""
