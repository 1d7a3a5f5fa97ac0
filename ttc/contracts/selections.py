"""The one table of the rules a pool of samples is read with: per curve series, what it needs, what it gives,
and which runnable selection reproduces it.

A pooled run (best-of-N's n seeded samples per problem) is read by the series of `POOLED`, in this order, at
every budget k <= n: ttc.analysis.curves applies the estimator each row names. A series is either an *arm*
(best-of-N with `n=k` and the selection its `arm` names reproduces it, run under `arm_name` where that is not
best_of_n) or a *measure* that reads the grades (pass@n, G-Pass@k), never an arm. The best-of-N strategy checks
its `selection` against the same rows: what running a selection needs is the row that selection is the arm of.
Names and needs only: the estimators live in the analysis, the rules themselves in ttc.contracts.rules, mbr
and clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

from ttc.contracts.vocab import (MBR_SELECTIONS, POOL_SELECTIONS, Estimator, PoolSelection, SeriesSelection,
                                SeriesVerifier, Span)

G_PASS_TAUS = (0.5, 0.75, 1.0)  # G-Pass@k thresholds (Liu et al. 2024) beside pass@k
POOL_STRATEGY = "best_of_n"  # the strategy that draws a pool, whichever rule reads it


@dataclass(frozen=True)
class Rule:
    """One curve series of a pool. `selection` is its curves.csv `selection` column (the rule applied, or the
    measure read) and `estimator` how the analysis reads it at budget k. `verifier` is its verifier label: a
    fixed one, or "run" for the run's own verifier (whose FLOPs are then charged to it). The series exists for
    a pool with verifier scores only (`needs_scores`), drawn with the selection `drawn_with` only, or drawn with
    rejection sampling only (`unfiltered`: the verifier's ranking without rejection, to compare).
    `needs_verifier` and `needs_behaviours` (a verifier that runs programs) say what running `selection` takes."""

    series: str
    selection: SeriesSelection
    estimator: Estimator
    verifier: SeriesVerifier = "none"
    needs_verifier: bool = False
    needs_behaviours: bool = False
    needs_scores: bool = False
    drawn_with: str | None = None
    unfiltered: bool = False
    measure: bool = False
    arm: PoolSelection | None = None
    arm_name: str | None = None  # the strategy name of the arm, where it is not best_of_n's own
    arm_reject: bool | None = None  # the arm's `reject`, where it is not the run's
    span: Span = "every"
    tau: float = 0.0  # G-Pass@k: the share of right samples asked for
    submit: int = 0  # filter and cluster: how many programs are submitted (1@k, 10@k)
    drawn: bool = True  # in a figure's default series (G-Pass@k would crowd it: the reference table has it)

    def verifier_label(self, run_verifier: str) -> str:
        """Its verifier label in a run whose verifier is `run_verifier`."""
        return run_verifier if self.verifier == "run" else self.verifier

    def charged(self, run_verifier: str) -> bool:
        """Whether the run's verifier FLOPs count in its compute."""
        return self.verifier == "run" and run_verifier != "none"


ORACLE = Rule("oracle_pass_at_n", "oracle", "pass_at_k", measure=True)
SAMPLE = Rule("sample", "first", "mean", arm="first", arm_name="sample", span="first")  # avg@n, at k = 1
MAJORITY = Rule("majority", "majority", "majority_at_k", arm="majority", arm_name="majority")
LOGPROB_SUM = Rule("best_of_n_logprob", "logprob_sum", "best_of_k", verifier="self-prob-sum", arm="logprob_sum")
LOGPROB_MEAN = Rule("best_of_n_logprob_mean", "logprob_mean", "best_of_k", verifier="self-prob-mean",
                    arm="logprob_mean")
MBR = tuple(Rule(s, s, "mbr", drawn_with=s, arm=s, needs_verifier=s == "mbr_exec", needs_behaviours=s == "mbr_exec")
            for s in MBR_SELECTIONS)
CLUSTER = Rule("filter_cluster", "filter_cluster", "cluster", verifier="run", needs_verifier=True,
               needs_behaviours=True, drawn_with="filter_cluster", arm="filter_cluster", submit=1)
CLUSTER_10 = Rule("filter_cluster_10", "filter_cluster_10", "cluster", verifier="run", needs_verifier=True,
                  needs_behaviours=True, drawn_with="filter_cluster", submit=10)  # 10 submissions: no one arm
G_PASS = tuple(Rule(f"g_pass_{tau:g}", "g_pass", "g_pass_at_k", measure=True, span="beyond_first", tau=tau,
                    drawn=False) for tau in G_PASS_TAUS)  # G-Pass@1 is pass@1 at every tau
BEST_OF_N = Rule("best_of_n", "verifier", "best_of_k", verifier="run", needs_verifier=True, needs_scores=True,
                 arm="verifier")
UNFILTERED = Rule("best_of_n_unfiltered", "verifier_unfiltered", "best_of_k", verifier="run", needs_scores=True,
                  unfiltered=True, arm="verifier", arm_reject=False)
WEIGHTED_VOTE = Rule("weighted_vote", "weighted_vote", "weighted_vote", verifier="run", needs_verifier=True,
                     needs_scores=True, arm="weighted_vote")

POOLED: tuple[Rule, ...] = (ORACLE, SAMPLE, MAJORITY, LOGPROB_SUM, LOGPROB_MEAN, *MBR, CLUSTER, CLUSTER_10, *G_PASS,
                            BEST_OF_N, UNFILTERED, WEIGHTED_VOTE)
BY_SERIES: dict[str, Rule] = {r.series: r for r in POOLED}
# what running a selection takes: the row whose series that selection reproduces as it is
RUNNABLE: dict[str, Rule] = {r.arm: r for r in POOLED if r.arm is not None and r.arm == r.selection}
NEEDS_VERIFIER = tuple(s for s, r in RUNNABLE.items() if r.needs_verifier)
NEEDS_BEHAVIOURS = tuple(s for s, r in RUNNABLE.items() if r.needs_behaviours)
MEASURES = tuple(dict.fromkeys(r.selection for r in POOLED if r.measure))  # selections that read the grades
UNDRAWN = tuple(dict.fromkeys(r.selection for r in POOLED if not r.drawn))  # left out of default figures
BASELINES = (BEST_OF_N.series, MAJORITY.series)  # a model's baseline: the first of these series it has
# a selection's stand-in in a run without a verifier: best-of-N by verifier is majority vote (it reads no scores)
UNVERIFIED: dict[str, str] = {BEST_OF_N.selection: MAJORITY.selection}

if set(RUNNABLE) != set(POOL_SELECTIONS):  # every selection best-of-N runs is one row of the table
    raise AssertionError(f"selections table: runnable {sorted(RUNNABLE)} != {sorted(POOL_SELECTIONS)}")


def rule_of(series: str) -> Rule | None:
    """The row of a pooled series (its exact name; a series renamed for its run, `name (tag)`, has none)."""
    return BY_SERIES.get(series)


def is_measure(selection: str | None) -> bool:
    """Whether a curve row's selection reads the grades (pass@n, G-Pass@k): a reference, never an arm."""
    return selection in MEASURES
