"""Search strategies: each a pure function of (problems, generator, verifier, budget) -> results."""
