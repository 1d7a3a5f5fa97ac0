"""Self-critique verifier: the generator judges a solution with a verification prompt.

The judge reads `template` filled with the problem prompt and the solution. With `reason_tokens > 0` it
first writes its check greedily (up to `verdict_cue`, e.g. the tiny world's recomputed steps then `->`),
and the verdict is read after that. The score is P(correct):
- mode="logprob": P(yes) / (P(yes) + P(no)) from the log-probabilities of the two verdict strings
  (`accept`, `reject`);
- mode="sample": the share of `k` sampled critiques whose verdict starts with the yes string, for
  backends that give no log-probabilities (an API).
With `steps=True` the judge checks each step on its own instead: for every line matching `step_pattern`,
it reads the solution up to that step and `step_template` (the tiny world's `Check k:`); the verdict's
`step_scores` are those P(correct), and its score is their `aggregate` (min, prod, mean or last);
`last_step_only` checks the newest step alone (what step-level search ranks by, at one query per candidate).
Every token the judge reads or writes is counted in the verdict's tokens and FLOPs.
The judge is given at construction: the run loop passes the run's own generator where the config leaves
`judge: null`, or builds the configured one.
With `chat=True` the check is a further user turn (`chat_request`) in the judge's own chat template,
appended after the solution as the assistant's answer (instruction models: self_critique_chat).
It sees the prompt and the solution only, never a reference.
"""

from __future__ import annotations

import contextlib
import math
import re
from typing import Sequence

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import BranchScorer, ChatTurns, Generator, PrefixCaching
from ttc.contracts.records import SamplingParams, Verdict
from ttc.contracts.rules import AGGREGATES, aggregate, critique_seed

MODES = ("logprob", "sample")


class SelfCritiqueVerifier:
    """P(correct) of each solution (or of each step) by a judge model; see the module docstring. `judge` is
    required (its None default only gives a clearer error than a missing argument)."""

    def __init__(self, judge: Generator | None = None, template: str = "{prompt}{solution}Check:",
                 accept: str = " yes", reject: str = " no", mode: str = "logprob", k: int = 4,
                 temperature: float = 1.0, max_tokens: int = 4, reason_tokens: int = 0, verdict_cue: str = "",
                 steps: bool = False, step_template: str = "{prompt}{prefix}Check {k}:",
                 step_pattern: str = r"^\d+\. ", aggregate: str = "min", last_step_only: bool = False,
                 name: str | None = None, chat: bool = False, chat_request: str = "") -> None:
        if mode not in MODES:
            raise bad_choice("verifier.mode", mode, MODES)
        if chat:  # the check is a further user turn of the judge's own chat template, after the solution
            if not isinstance(judge, ChatTurns):
                raise ConfigError("verifier.chat=true needs a judge with a chat template (ChatTurns), "
                                  f"and {type(judge).__name__} has none")
            if steps or not chat_request.strip():
                raise ConfigError("verifier.chat=true needs verifier.chat_request (the user's check request) "
                                  "and steps=false")
            template = "{prompt}{solution}" + judge.follow_up(chat_request).replace("{", "{{").replace("}", "}}")
        if "{solution}" not in template:
            raise ConfigError("verifier.template has no {solution} field; the judge would never see the solution")
        if k < 1:
            raise ConfigError(f"verifier.k={k} must be at least 1")
        self.judge, self.template, self.yes, self.no, self.mode = judge, template, accept, reject, mode
        if reason_tokens < 0 or (reason_tokens and not verdict_cue):
            raise ConfigError(f"verifier.reason_tokens={reason_tokens} must be >= 0 and needs a verdict_cue when > 0")
        self.params = SamplingParams(temperature=temperature, max_tokens=max_tokens + reason_tokens)
        self.reason = SamplingParams(temperature=0.0, max_tokens=max(reason_tokens, 1), stop=(verdict_cue,) if verdict_cue else ())
        self.k, self.reason_tokens, self.cue = int(k), int(reason_tokens), verdict_cue
        if aggregate not in AGGREGATES:
            raise bad_choice("verifier.aggregate", aggregate, AGGREGATES)
        self.steps, self.step_template, self.aggregate = bool(steps), step_template, aggregate
        self.last_only = bool(last_step_only)
        self.step_pattern = re.compile(step_pattern)
        if judge is None:
            raise ConfigError("verifier.judge is not set: inside ttc the run's generator is passed (judge: null); "
                              "elsewhere pass a generator")
        self.name = name or f"{judge.name}-critique-{self.mode}" + ("-steps" if self.steps else "")

    def prefix_caching(self) -> contextlib.AbstractContextManager[None]:
        """PrefixCaching (ttc.contracts.protocols): the judge's, where it has one (else nothing is kept)."""
        return self.judge.prefix_caching() if isinstance(self.judge, PrefixCaching) else contextlib.nullcontext()

    def verify(self, prompts: Sequence[str], solutions: Sequence[Sequence[str]]) -> list[list[Verdict]]:
        """Verifier.verify (ttc.contracts.protocols): a verdict per solution, from prompt and text only."""
        pairs = [(p, s) for p, sols in zip(prompts, solutions) for s in sols]
        queries, owner = [], []
        for i, (prompt, solution) in enumerate(pairs):
            for q in self._queries(prompt, solution):
                queries.append(q)
                owner.append(i)
        judged = self._by_logprob(queries) if self.mode == "logprob" else self._by_sampling(queries)
        per: list[list[Verdict]] = [[] for _ in pairs]
        for i, v in zip(owner, judged):
            per[i].append(v)
        flat = [self._combine(vs) for vs in per]
        out, i = [], 0
        for sols in solutions:
            out.append(flat[i:i + len(sols)])
            i += len(sols)
        return out

    def _queries(self, prompt: str, solution: str) -> list[str]:
        if not self.steps:
            return [self.template.format(prompt=prompt, solution=solution)]
        lines = solution.split("\n")
        marks = [j for j, line in enumerate(lines) if self.step_pattern.match(line)]
        if not marks:
            return [self.template.format(prompt=prompt, solution=solution)]
        queries = [self.step_template.format(prompt=prompt, prefix="\n".join(lines[:j + 1]) + "\n", k=k)
                   for k, j in enumerate(marks, 1)]
        return queries[-1:] if self.last_only else queries

    def _combine(self, verdicts: list[Verdict]) -> Verdict:
        if not self.steps:
            return verdicts[0]
        scores = [v.score for v in verdicts]
        return Verdict(score=aggregate(scores, self.aggregate), tokens=sum(v.tokens for v in verdicts),
                       flops=sum(v.flops for v in verdicts), step_scores=tuple(scores),
                       cached_tokens=sum(v.cached_tokens for v in verdicts))

    def _by_logprob(self, queries: list[str]) -> list[Verdict]:
        spent = [(0, 0.0)] * len(queries)
        if self.reason_tokens:
            checks = [row[0] for row in self.judge.generate(queries, self.reason, [[0]] * len(queries))]
            queries = [q + c.text + self.cue for q, c in zip(queries, checks)]
            spent = [(c.prompt_tokens - c.cached_tokens + c.generated_tokens, c.flops) for c in checks]
        if isinstance(self.judge, BranchScorer):  # each query read once, both verdicts from its cache
            pairs = self.judge.score_branches(queries, [self.yes, self.no])
        else:
            scored = self.judge.score(queries * 2, [self.yes] * len(queries) + [self.no] * len(queries))
            pairs = list(zip(scored[:len(queries)], scored[len(queries):]))
        out = []
        for (y, n), (tokens, flops) in zip(pairs, spent):
            top = max(y.logprob, n.logprob)
            if not (math.isfinite(top) and not math.isnan(y.logprob) and not math.isnan(n.logprob)):
                raise ConfigError(f"verifier {self.name}: the judge gives no finite log-probability to "
                                  f"{self.yes!r} or {self.no!r} (NaN logits, or verdict strings it cannot write)")
            p_yes = math.exp(y.logprob - top)
            p_no = math.exp(n.logprob - top)
            out.append(Verdict(score=p_yes / (p_yes + p_no), tokens=tokens + y.tokens + n.tokens,
                               flops=flops + y.flops + n.flops, cached_tokens=y.cached_tokens + n.cached_tokens))
        return out

    def _says_yes(self, text: str) -> bool:
        verdict = text.rsplit(self.cue, 1)[-1] if self.reason_tokens else text
        return verdict.strip().lower().startswith(self.yes.strip().lower())

    def _by_sampling(self, queries: list[str]) -> list[Verdict]:
        seeds = [[critique_seed(q, j) for j in range(self.k)] for q in queries]
        outs = self.judge.generate(queries, self.params, seeds)
        verdicts = []
        for row in outs:
            says_yes = sum(self._says_yes(c.text) for c in row)
            tokens = sum(c.prompt_tokens - c.cached_tokens + c.generated_tokens for c in row)
            verdicts.append(Verdict(score=says_yes / len(row), tokens=tokens, flops=sum(c.flops for c in row)))
        return verdicts
