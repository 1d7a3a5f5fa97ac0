"""The moves every step-level search makes, as free functions over plain records: growing a path by a step,
expanding a round (one generator call for every path of every problem), booking verdicts (one verifier call),
testing completion and building the result. Beam search, DVTS and lookahead (ttc.strategies.step_search),
REBASE and particle filtering (ttc.strategies.tree_search) and MCTS (ttc.strategies.mcts) each write their own
loop over these.

A step ends at the step delimiter: the generator stops there and leaves the delimiter out of its text, so a
grown path puts it back. Costs are booked into the caller's per-problem ledgers, one addition per generator row
or verdict row in call order, so every float sums in the same order whoever calls.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from ttc.contracts.errors import ConfigError
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import (Budget, Candidate, Completion, Ledger, Problem, ProblemResult, SamplingParams,
                                   Verdict, joined, ledger_of, verifier_cost)
from ttc.contracts.rules import select
from ttc.contracts.trees import Grove


@dataclasses.dataclass(frozen=True)
class Path:
    """A partial solution: its text so far, the completions that wrote it, its subtree, the score and verdict
    of its newest step once booked, and that step's node on the record."""

    text: str = ""
    parts: tuple[Completion, ...] = ()
    tree: int = 0
    score: float = 0.0
    verdict: Verdict | None = None
    node: int = 0  # its newest step's node in the problem's recorded tree (ttc.contracts.trees); 0: the root


@dataclasses.dataclass(frozen=True)
class Ask:
    """One prompt of a round: problem `problem`'s prompt followed by `path`'s text, sampled once per seed."""

    problem: int
    path: Path
    seeds: list[int]


def guided_need(name: str, verifiers: str = "a PRM, or self_critique with steps=true") -> str:
    """VerifierNeed's reason for a search that a verifier always guides (`verifiers`: which ones serve)."""
    return f"strategy={name} is guided by a verifier: set verifier=... ({verifiers})"


def always_guided(strategy) -> str:
    """VerifierNeed (ttc.contracts.protocols) of a search a verifier always guides, whatever its settings: set as
    the class's `verifier_need`."""
    return guided_need(strategy.name)


def grown(path: Path, c: Completion, delim: str) -> Path:
    """`path` grown by the step `c` wrote, with the delimiter it stopped at; unscored."""
    return Path(path.text + c.text + (delim if c.stop_reason == delim else ""), path.parts + (c,), path.tree)


def is_complete(text: str, extract: Extractor, delim: str) -> bool:
    """A solution is complete when it has an answer or its last step ended without the step delimiter."""
    return extract(text) is not None or not text.endswith(delim)


def partition(paths: Sequence[Path], extract: Extractor, delim: str) -> tuple[list[Path], list[Path]]:
    """(the complete paths, the live ones), each in the given order."""
    done: list[Path] = []
    live: list[Path] = []
    for p in paths:
        (done if is_complete(p.text, extract, delim) else live).append(p)
    return done, live


def generate(problems: Sequence[Problem], generator: Generator, params: SamplingParams, asks: Sequence[Ask],
             ledgers: list[Ledger]) -> list[list[Completion]]:
    """One generator call for every ask (none when there is none); each row's cost is booked to its problem."""
    outs = generator.generate([problems[a.problem].prompt + a.path.text for a in asks], params,
                              [a.seeds for a in asks]) if asks else []
    rows = [list(row) for row in outs]
    for a, row in zip(asks, rows):
        ledgers[a.problem] = ledgers[a.problem] + ledger_of(row)
    return rows


def expand_round(problems: Sequence[Problem], generator: Generator, params: SamplingParams, asks: Sequence[Ask],
                 delim: str, ledgers: list[Ledger], grove: Grove | None = None, round_: int = 0) -> list[list[Path]]:
    """Every ask's path grown by each of its samples (one generator call): per problem, the new paths in ask
    and seed order; each a node of round `round_` under its ask's path in `grove`, where one is kept."""
    new: list[list[Path]] = [[] for _ in problems]
    for a, row in zip(asks, generate(problems, generator, params, asks, ledgers)):
        paths = [grown(a.path, c, delim) for c in row]
        if grove is not None:
            paths = [dataclasses.replace(p, node=grove.add(a.problem, a.path.node, round_, p.text[len(a.path.text):]))
                     for p in paths]
        new[a.problem] += paths
    return new


def verify_round(verifier: Verifier, problems: Sequence[Problem], owners: Sequence[int],
                 shown: Sequence[Sequence[str]], ledgers: list[Ledger]) -> list[list[Verdict]]:
    """One verifier call (none when `owners` is empty) for texts shown[r] of problem owners[r]; each row's cost
    is booked to its problem."""
    verdicts = verifier.verify([problems[i].prompt for i in owners], shown) if owners else []
    for i, vs in zip(owners, verdicts):
        ledgers[i] = ledgers[i] + verifier_cost(vs)
    return verdicts


def step_score(v: Verdict) -> float:
    """A PRM's score of the newest step (search-and-learn's "last"); an ORM's score otherwise."""
    return v.step_scores[-1] if v.step_scores else v.score


def booked(paths: Sequence[Path], verdicts: Sequence[Verdict]) -> list[Path]:
    """The paths with their verdicts: each scored by its newest step."""
    return [dataclasses.replace(p, score=step_score(v), verdict=v) for p, v in zip(paths, verdicts)]


def score_round(verifier: Verifier, problems: Sequence[Problem], new: Sequence[Sequence[Path]],
                ledgers: list[Ledger], shown: Sequence[Sequence[str]] | None = None,
                grove: Grove | None = None) -> list[list[Path]]:
    """Every problem's new paths with their verdicts, from one verifier call that reads `shown` (by default the
    paths' own texts); each path's step score goes on its node in `grove`, where one is kept."""
    texts = shown if shown is not None else [[p.text for p in paths] for paths in new]
    verdicts = verify_round(verifier, problems, range(len(problems)), texts, ledgers)
    scored = [booked(paths, vs) for paths, vs in zip(new, verdicts)]
    for i, paths in enumerate(scored if grove is not None else ()):
        for p in paths:
            grove.score(i, p.node, p.score)
    return scored


def step_info(path: Path) -> dict:
    """What a step search records of a candidate: its steps and its newest step's score."""
    return {"steps": len(path.parts), "step_score": round(path.score, 6)}


def candidates(paths: Sequence[Path], answers: Sequence[str | None],
               info: Callable[[int, Path], dict]) -> tuple[Candidate, ...]:
    """Path k as candidate k: its parts joined under its whole text, its answer, its verdict and info(k, path)."""
    return tuple(Candidate(joined(p.parts, p.text, k), a, p.verdict, info(k, p))
                 for k, (p, a) in enumerate(zip(paths, answers)))


def result(problem: Problem, paths: Sequence[Path], ledger: Ledger, extract: Extractor, seed: int, *,
           name: str, budget: Budget, rule: str, info: Callable[[int, Path], dict],
           tree: tuple[Grove, int] | None = None) -> ProblemResult:
    """A problem's result: every path a candidate, the one `rule` selects by the paths' verdict scores; with
    `tree` (the grove and the problem's index in it), each candidate's node is marked completed and the
    problem's tree goes on the result."""
    if not paths:
        raise ConfigError(f"strategy={name}: no candidate for problem {problem.id}")
    answers = [extract(p.text) for p in paths]
    scores = [p.verdict.score if p.verdict else 0.0 for p in paths]
    chosen = select(rule, answers, scores, [0.0] * len(paths), [1] * len(paths), seed, problem.id)
    nodes: tuple[dict, ...] = ()
    if tree is not None:
        grove, i = tree
        at: dict[int, list[int]] = {}
        for k, p in enumerate(paths):
            at.setdefault(p.node, []).append(k)  # a resampled particle can be several candidates
        for node, ks in at.items():
            grove.fate(i, [node], "completed", candidates=ks)
        nodes = grove.tree(i)
    return ProblemResult(problem.id, candidates(paths, answers, info), chosen, ledger, budget, tree=nodes)
