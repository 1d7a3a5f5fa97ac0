"""The closed sets of names several floors share, each spelled once: a `Literal` type for type checkers and,
beside it, the runtime tuple `typing.get_args` derives from it (for `in` checks and error messages).

What each selection rule needs and which curve series it gives is in `ttc.contracts.selections`; what the
rules do is in `ttc.contracts.rules`, `ttc.contracts.mbr` and `ttc.contracts.clusters`. Names only here.
"""

from __future__ import annotations

from typing import Literal, get_args

# selection rules of a pool of candidates, as `ttc.contracts.rules.select` applies them
Selection = Literal["verifier", "logprob_sum", "logprob_mean", "majority", "weighted_vote", "first"]
SELECTIONS: tuple[Selection, ...] = get_args(Selection)

# utilities of minimum Bayes risk (ttc.contracts.mbr) and the selections that use them (`mbr_` + utility)
Utility = Literal["answer", "edit", "chrf", "exec"]
UTILITIES: tuple[Utility, ...] = get_args(Utility)
MbrSelection = Literal["mbr_answer", "mbr_edit", "mbr_chrf", "mbr_exec"]
MBR_SELECTIONS: tuple[MbrSelection, ...] = get_args(MbrSelection)
ClusterSelection = Literal["filter_cluster"]  # AlphaCode's filter and cluster (ttc.contracts.clusters)
# every selection of best-of-N (ttc.strategies.best_of_n): a rule of `select`, MBR, or filter-and-cluster
PoolSelection = Literal[Selection, MbrSelection, ClusterSelection]
POOL_SELECTIONS: tuple[PoolSelection, ...] = get_args(PoolSelection)

# selections of the other strategies: revision chains, step and tree searches, CoT decoding, MCTS
RevisionSelection = Literal["verifier", "majority", "weighted_vote", "last"]
REVISION_SELECTIONS: tuple[RevisionSelection, ...] = get_args(RevisionSelection)
SearchSelection = Literal["verifier", "weighted_vote", "majority"]
SEARCH_SELECTIONS: tuple[SearchSelection, ...] = get_args(SearchSelection)
CotSelection = Literal["max", "aggregate"]
COT_SELECTIONS: tuple[CotSelection, ...] = get_args(CotSelection)
MctsSelection = Literal["visits", "value"]
MCTS_SELECTIONS: tuple[MctsSelection, ...] = get_args(MctsSelection)

# strategies' other closed options
SearchKind = Literal["beam", "dvts", "tot"]  # step search (ttc.strategies.step_search)
SEARCH_KINDS: tuple[SearchKind, ...] = get_args(SearchKind)
Resampling = Literal["multinomial", "systematic"]  # particle filtering (ttc.strategies.tree_search)
RESAMPLINGS: tuple[Resampling, ...] = get_args(Resampling)
StopRule = Literal["supermajority", "beta"]  # adaptive consistency's stopping rules
STOP_RULES: tuple[StopRule, ...] = get_args(StopRule)
ConfidenceMode = Literal["offline", "online"]  # DeepConf
CONFIDENCE_MODES: tuple[ConfidenceMode, ...] = get_args(ConfidenceMode)
ConfidenceMeasure = Literal["lowest", "tail"]
CONFIDENCE_MEASURES: tuple[ConfidenceMeasure, ...] = get_args(ConfidenceMeasure)
Role = Literal["probe", "arm"]  # what an adaptive run's candidate was drawn for

# step-score aggregation (ttc.contracts.rules.aggregate)
Aggregate = Literal["last", "min", "prod", "mean"]
AGGREGATES: tuple[Aggregate, ...] = get_args(Aggregate)

# how the analysis turns a result's candidates into curve points (see ttc.contracts.samples)
CurveKind = Literal["pooled", "chains", "fixed"]
CURVES: tuple[CurveKind, ...] = get_args(CurveKind)

# what a budget counts, per problem (ttc.contracts.records.Budget)
BudgetUnit = Literal["samples", "beams", "thinking_tokens", "simulations", "branches"]
BUDGET_UNITS: tuple[BudgetUnit, ...] = get_args(BudgetUnit)

# why a completion ended: a stop (end of sequence or stop string), the token limit, a program no continuation
# makes valid (constrained decoding), DeepConf's confidence cut, or a scored (not generated) continuation;
# a server may send others of its own (OpenAI's content_filter)
FinishReason = Literal["stop", "length", "invalid", "confidence", "scored", "content_filter"]
FINISH_REASONS: tuple[FinishReason, ...] = get_args(FinishReason)

Syntax = Literal["python", "python_fenced"]  # constrained decoding: end a sample once its program is invalid
SYNTAXES: tuple[Syntax, ...] = get_args(Syntax)

# the analysis: measures that read the grades (never arms), the estimators a curve series is read with, the
# budgets of a pool a series is read at, and how a curves.csv row's accuracy was estimated
Measure = Literal["oracle", "g_pass"]  # the table (ttc.contracts.selections) says which rows are measures
# a curve row's selection column: a runnable selection, a measure, or a variant read only off a pool
SeriesSelection = Literal[PoolSelection, Measure, "verifier_unfiltered", "filter_cluster_10"]
SeriesVerifier = Literal["none", "self-prob-sum", "self-prob-mean", "run"]  # "run": the run's own verifier
Estimator = Literal["pass_at_k", "mean", "majority_at_k", "best_of_k", "g_pass_at_k", "weighted_vote", "mbr",
                    "cluster"]
ESTIMATORS: tuple[Estimator, ...] = get_args(Estimator)
Span = Literal["every", "first", "beyond_first"]  # every budget k <= n, k = 1 only, or k >= 2
RowEstimate = Literal["exact", "resampled"]
