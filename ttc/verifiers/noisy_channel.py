"""Noisy-channel reranking (note 002; coder-reviewer reranking for code): score a solution y of a prompt x by
log p(y | x) / |y| + lambda log p(x | y) / |x|, the second term read with a reverse template (the question given
the solution, or the docstring given the code), both length-normalised.

Both log-probabilities come from the judge's scoring call (`Generator.score`), and every token read is in the
verdict's tokens and FLOPs. The judge is given at construction (judge: null in the config: the run's generator,
so p(y | x) is the sampler's own). `reverse` is the reverse prompt, with {solution}; the continuation scored
after it is `source` filled with {prompt} (the whole prompt by default; a code task can keep only its
docstring). Reranking with it is best-of-N with selection=verifier; the analysis gets every budget from one pool.
It sees the prompt and the solution only, never a reference.
"""

from __future__ import annotations

from typing import Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Generator
from ttc.contracts.records import Verdict


class NoisyChannelVerifier:
    """Direct plus lambda times reverse (channel) log-likelihood per token; see the module docstring."""

    def __init__(self, judge: Generator | None = None, lam: float = 1.0,
                 reverse: str = "{solution}\n\nThe question was:\n", source: str = "{prompt}",
                 name: str | None = None) -> None:
        if judge is None:
            raise ConfigError("verifier.judge is not set: inside ttc the run's generator is passed (judge: null)")
        if "{solution}" not in reverse:
            raise ConfigError("verifier.reverse has no {solution} field; the channel would never read the solution")
        if lam < 0:
            raise ConfigError(f"verifier.lam={lam} must be >= 0")
        self.judge, self.lam, self.reverse, self.source = judge, float(lam), reverse, source
        self.name = name or f"{judge.name}-channel-l{self.lam:g}"

    def verify(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[Verdict]]:
        """Verifier.verify (ttc.contracts.protocols): one scoring call for the direct and the reverse reads."""
        pairs = [(p, s) for p, sols in zip(prompts, solutions) for s in sols]
        direct = self.judge.score([p for p, _ in pairs], [s for _, s in pairs])
        channel = self.judge.score([self.reverse.format(solution=s) for _, s in pairs],
                                   [self.source.format(prompt=p) for p, _ in pairs])
        flat = []
        for d, c in zip(direct, channel):
            per_d = d.logprob / max(len(d.token_logprobs), 1)
            per_c = c.logprob / max(len(c.token_logprobs), 1)
            flat.append(Verdict(per_d + self.lam * per_c, tokens=d.tokens + c.tokens, flops=d.flops + c.flops))
        out, i = [], 0
        for sols in solutions:
            out.append(flat[i:i + len(sols)])
            i += len(sols)
        return out
