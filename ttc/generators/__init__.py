"""Generators: one module per engine (HF, vLLM, an OpenAI-compatible client) and what they share."""
