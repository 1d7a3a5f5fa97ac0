"""Verifiers: score solutions from the prompt and the solution text only, never from references."""
