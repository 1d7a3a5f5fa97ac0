"""A task's zero-shot chat prompt: an instruction wrapped in a model's own chat template (one user turn)."""

from __future__ import annotations

from typing import Callable

from ttc.contracts.errors import ConfigError


def chat_renderer(tokenizer_path: str, instruction: str, key: str, other_mode: str | None = None) -> Callable[[str], str]:
    """text -> the chat prompt of `instruction` with `{key}` filled by the text, ending where the assistant
    replies; a tokenizer without a chat template is one line (naming the task's other mode, if it has one)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    if not tokenizer.chat_template:
        hint = f"; use task.mode={other_mode}" if other_mode else ""
        raise ConfigError(f"task.chat_tokenizer={tokenizer_path} has no chat template{hint}")

    def render(text: str) -> str:
        message = [{"role": "user", "content": instruction.format(**{key: text})}]
        return tokenizer.apply_chat_template(message, tokenize=False, add_generation_prompt=True)

    return render
