"""Parallel sampling: N seeded samples per problem, optionally verified, one selected by a rule.

One strategy covers plain sampling (`selection=first`), majority vote, best-of-N by verifier or by model
probability (sum or length-normalised), verifier-weighted vote and minimum Bayes risk (`mbr_answer`, equal
to majority vote; `mbr_edit`; `mbr_chrf`): they differ only in the rule applied to the same pool, and the
analysis re-applies every rule to every budget n <= N of that pool. With `reject=true` (rejection sampling)
candidates with no extractable answer, or whose program the generator found invalid (`syntax`), are set aside
before the rule (unless all are); each candidate's `info.rejected` says which, so the share rejected is in the
record. `selection=filter_cluster` is AlphaCode's rule (ttc.contracts.clusters): candidates failing the public
tests are filtered, the rest clustered by behaviour on generated inputs (the verifier's Behaviours), and the
largest cluster's representative is chosen; curves.csv adds 10@k. `regex` and `syntax` constrain the decoding itself (ttc.generators.constraints).
Without a verifier, `selection=verifier` (the config's default) selects by majority vote, which reads no scores
(`applied_rule`); the other rules that need one (weighted_vote, filter_cluster, mbr_exec) are refused.
"""

from __future__ import annotations

from typing import Sequence

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.strategies.common import budget_of, needs_verifier, require_verifier, verify_pools
from ttc.contracts.records import Candidate, Problem, ProblemResult, SamplingParams, ledger_of
from ttc.contracts.mbr import mbr_pick, utility_matrix
from ttc.contracts.clusters import submissions
from ttc.contracts.protocols import Behaviours
from ttc.contracts.rules import candidate_key, sample_seed, select
from ttc.contracts.selections import NEEDS_BEHAVIOURS, NEEDS_VERIFIER, UNVERIFIED
from ttc.contracts.vocab import MBR_SELECTIONS, POOL_SELECTIONS, PoolSelection



class BestOfN:
    """Sample `n` completions per problem in one batched call and select one by `selection`."""

    def __init__(self, n: int, selection: PoolSelection = "majority", temperature: float = 0.8, top_k: int = 0,
                 top_p: float = 1.0, min_p: float = 0.0, epsilon: float = 0.0, max_tokens: int = 160,
                 name: str | None = None, stop: Sequence[str] = (), reject: bool = False,
                 regex: str | None = None, syntax: str | None = None) -> None:
        if selection not in POOL_SELECTIONS:
            raise bad_choice("strategy.selection", selection, POOL_SELECTIONS)
        self.budget = budget_of(n, "n", "samples")
        try:
            self.params = SamplingParams(temperature, top_k, top_p, min_p, epsilon, max_tokens, tuple(stop),
                                         regex=regex or None, syntax=syntax or None)
        except ValueError as err:
            raise ConfigError(f"strategy.{str(err).removeprefix('sampling.')}") from None
        self.selection, self.name = selection, name or ("best_of_n" if selection != "majority" else "majority")
        self.reject = bool(reject)

    def applied_rule(self, verified: bool) -> str:
        """The selection rule applied in a run with (`verified`) or without a verifier: `selection`, or without
        one its stand-in (UNVERIFIED: `verifier`, the config's default, becomes majority vote)."""
        return self.selection if verified else UNVERIFIED.get(self.selection, self.selection)

    def reads_verifier(self) -> bool:
        """VerifierUse (ttc.contracts.protocols): only the rules that read scores (verifier, weighted_vote,
        filter_cluster, mbr_exec) have a verifier built; majority, log-probability, MBR and first do not."""
        return self.selection in NEEDS_VERIFIER

    def verifier_need(self) -> str | None:
        """VerifierNeed (ttc.contracts.protocols): the rules that need a verifier and have no stand-in need one."""
        if self.applied_rule(verified=False) in NEEDS_VERIFIER:
            return needs_verifier(f"strategy.selection={self.selection}", instead="majority/logprob_sum/logprob_mean")
        return None

    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every candidate per problem, the selected one and the ledger."""
        require_verifier(self, verifier)
        if self.selection in NEEDS_BEHAVIOURS and not isinstance(verifier, Behaviours):
            raise ConfigError(f"strategy.selection={self.selection} needs a verifier that runs programs on "
                              f"generated inputs: verifier=unit_tests")
        seeds = [[sample_seed(seed, p.id, i) for i in range(self.budget.amount)] for p in problems]
        pools = generator.generate([p.prompt for p in problems], self.params, seeds)
        verdicts = verify_pools(verifier, problems, pools)
        behaviour = (verifier.behaviours([p.prompt for p in problems], [[c.text for c in pool] for pool in pools])
                     if self.selection in NEEDS_BEHAVIOURS else [None] * len(pools))
        results = []
        for problem, pool, vs, sigs in zip(problems, pools, verdicts, behaviour):
            answers = [extract(c.text) for c in pool]
            kept = [i for i, (a, c) in enumerate(zip(answers, pool)) if not self.reject or (
                a is not None and c.finish_reason != "invalid")] or list(range(len(pool)))
            info = [{"rejected": i not in kept} if self.reject else {} for i in range(len(pool))]
            if sigs is not None and self.selection == "mbr_exec":
                for d, sig in zip(info, sigs):
                    d["behaviour"] = sig
                u = utility_matrix([c.text for c in pool], answers, "exec", sigs)
                chosen = mbr_pick(kept, u, answers, seed, problem.id)
            elif sigs is not None:  # each candidate's public-test verdict and behaviour, for the analysis's n@k
                for d, v, sig in zip(info, vs, sigs):
                    d.update(public_pass=v.score >= 1.0, behaviour=sig)
                keys = [candidate_key(seed, problem.id, i) for i in range(len(pool))]
                chosen = submissions(kept, [d["public_pass"] for d in info], sigs, keys, 1)[0]
            else:
                chosen = self._choose(self.applied_rule(verifier is not None), pool, answers, vs, kept, seed, problem.id)
            ledger = ledger_of(pool, [v for v in vs if v is not None])
            results.append(ProblemResult(
                problem.id, tuple(Candidate(c, a, v, d) for c, a, v, d in zip(pool, answers, vs, info)), chosen,
                ledger, self.budget, curve="pooled",
            ))
        return results

    def _choose(self, rule: str, pool, answers, vs, kept: list[int], seed: int, problem_id: str) -> int:
        """The candidate `rule` selects among `kept` (all of them unless rejection set some aside), by index in
        the whole pool, so that tie-breaks are the analysis's."""
        if rule in MBR_SELECTIONS:
            u = utility_matrix([c.text for c in pool], answers, rule.removeprefix("mbr_"))
            return mbr_pick(kept, u, answers, seed, problem_id)
        out = set(range(len(pool))) - set(kept)
        scores = [float("-inf") if i in out else (v.score if v else 0.0) for i, v in enumerate(vs)]
        logprobs = [float("-inf") if i in out else c.logprob for i, c in enumerate(pool)]
        if rule == "first":
            return kept[0]
        return select(rule, answers, scores, logprobs, [c.generated_tokens for c in pool], seed, problem_id)
