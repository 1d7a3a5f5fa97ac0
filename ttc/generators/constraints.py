"""Constrained decoding for the HF generator: a regular-expression mask on the logits, and a Python syntax check
that ends a sample as soon as its program can no longer be valid.

- `RegexMasks`: the tokens that keep the text inside the language of `SamplingParams.regex`, per row, by xgrammar
  (the grammar engine vLLM's structured outputs use, so both backends constrain alike); the end-of-sequence token
  is allowed only where the text is a full match. Greedy and sampling both choose among the allowed tokens only
  (sampling renormalises over them); the record's log-probabilities stay the model's own, before the mask.
- `python_status`: "complete", "incomplete" (could still become a valid program) or "invalid" (no continuation can
  fix it: unbalanced closers, impossible indentation, unterminated strings, misplaced keywords), by the standard
  library's interactive-interpreter rule (`codeop`, the parser's own "incomplete input" verdict). The generator
  checks each sample at every line end it writes (`SamplingParams.syntax`): "python" reads prompt + text as one
  program (a completion task), "python_fenced" the text inside its first ``` fence (a chat reply).

Knows nothing about tasks or strategies.
"""

from __future__ import annotations

import codeop
import functools
import warnings
from typing import TYPE_CHECKING, Sequence

from ttc.contracts.errors import ConfigError

if TYPE_CHECKING:
    import torch

SYNTAXES = ("python", "python_fenced")


def refuse(params, backend: str, regex_ok: bool = False) -> None:
    """A ConfigError where a backend cannot honour the constraints asked for (never decode unconstrained silently)."""
    if params.syntax:
        raise ConfigError(f"strategy.syntax={params.syntax} needs generator=tiny or another HF generator "
                          f"({backend} cannot stop a sample mid-decode on a syntax check)")
    if params.regex and not regex_ok:
        raise ConfigError(f"strategy.regex needs the HF or vLLM generator ({backend} does not constrain decoding)")


def python_status(source: str) -> str:
    """"complete", "incomplete" or "invalid": whether `source` is a program, a prefix of one, or neither."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are not syntax errors
            code = codeop.compile_command(source, symbol="exec")
    except (SyntaxError, ValueError, OverflowError):
        return "invalid"
    return "incomplete" if code is None else "complete"


def checked_source(prompt: str, text: str, syntax: str) -> str | None:
    """The program a sample's text stands for under `syntax`, cut at its last line end; None: nothing to check yet."""
    if syntax == "python_fenced":
        start = text.find("```")
        if start < 0:
            return None
        body = text[start + 3:].split("\n", 1)  # the fence's language tag ends its first line
        if len(body) < 2:
            return None
        text = body[1].split("```", 1)[0]
        first = next((line for line in text.split("\n") if line.strip()), "")
        prompt = "def _body():\n" if first[:1] in (" ", "\t") else ""  # a function body, to go after the quoted code
    cut = text.rfind("\n")
    return None if cut < 0 else prompt + text[: cut + 1]


def syntax_invalid(prompt: str, text: str, syntax: str) -> bool:
    """Whether a sample's program is already definitely invalid."""
    source = checked_source(prompt, text, syntax)
    return source is not None and python_status(source) == "invalid"


@functools.lru_cache(maxsize=8)
def _compiled(tokenizer, vocab: int, regex: str):
    try:
        import xgrammar as xgr
    except ImportError:
        raise ConfigError("sampling.regex on the HF generator needs xgrammar (pip install xgrammar)") from None
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab)
    try:
        return info, xgr.GrammarCompiler(info).compile_regex(regex)
    except RuntimeError as err:
        raise ConfigError(f"sampling.regex={regex!r} is not a valid regular expression ({str(err).splitlines()[0]})") from None


class RegexMasks:
    """Per-row xgrammar matchers of one batch; see the module docstring."""

    def __init__(self, tokenizer, vocab: int, regex: str, rows: int) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        info, grammar = _compiled(tokenizer, vocab, regex)
        self.matchers = [xgr.GrammarMatcher(grammar) for _ in range(rows)]
        self.bitmask = xgr.allocate_token_bitmask(rows, info.vocab_size)
        self.vocab = vocab

    def apply(self, logits: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
        """`logits` [len(rows), V] with every token outside each row's language at -inf."""
        bitmask = self.bitmask[: len(rows)]
        for b, r in enumerate(rows):
            if self.matchers[r].is_terminated():
                bitmask[b] = -1  # an ended row (not yet pruned from the batch): its tokens are discarded anyway
            else:
                self.matchers[r].fill_next_token_bitmask(bitmask, b)
        masked = logits.clone()
        self._xgr.apply_token_bitmask_inplace(masked, bitmask.to(masked.device), vocab_size=self.vocab)
        return masked

    def advance(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        """Feed each row's chosen token to its matcher (rows that have ended are left as they are)."""
        for r, t in zip(rows, tokens):
            m = self.matchers[r]
            if not m.is_terminated() and not m.accept_token(int(t)):
                raise RuntimeError(f"row {r}: token {t} left the regular language it was masked to")
