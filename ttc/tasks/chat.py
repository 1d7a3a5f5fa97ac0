"""Chat prompts in a model's own chat template: a task's zero-shot instruction (one user turn), or a whole
conversation (`ttc serve`'s chat requests)."""

from __future__ import annotations

from typing import Callable

from ttc.contracts.errors import ConfigError


def chat_renderer(tokenizer_path: str, instruction: str, key: str, other_mode: str | None = None) -> Callable[[str], str]:
    """text -> the chat prompt of `instruction` with `{key}` filled by the text, ending where the assistant
    replies; a tokenizer without a chat template is one line (naming the task's other mode, if it has one)."""
    hint = f"; use task.mode={other_mode}" if other_mode else ""
    render = conversation_renderer(tokenizer_path, "task.chat_tokenizer", hint)
    return lambda text: render([{"role": "user", "content": instruction.format(**{key: text})}])


def conversation_renderer(tokenizer_path: str, field: str, hint: str = "") -> Callable[[list[dict]], str]:
    """messages ({role, content} dicts) -> the conversation in the tokenizer's chat template, ending where the
    assistant replies; a tokenizer without a template is a ConfigError naming `field`."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    if not tokenizer.chat_template:
        raise ConfigError(f"{field}={tokenizer_path} has no chat template{hint}")
    return lambda messages: tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
