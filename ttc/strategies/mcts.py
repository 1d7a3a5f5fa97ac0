"""Monte Carlo tree search over reasoning steps, guided by a process verifier (PUCT, as in AlphaZero).

A node is a partial solution (a prefix of steps ending at `step_delim`); its prior P is the verifier's score
of its newest step. Each of `simulations` iterations, for every problem at once:
1. selection: from the root, descend to the child maximising Q + c P sqrt(N_parent) / (1 + N_child)
   (Q = mean value, 0 unvisited; ties to the higher prior, then the earlier child) until a node with no
   children or a complete one;
2. expansion: a node with no children gets `expand` sampled next steps (one generator call for all
   problems), scored by the verifier for their priors (one verifier call);
3. simulation: the new child with the highest prior is rolled out greedily to an answer (one generator call)
   and the whole solution is scored by the verifier (one verifier call): that score is the value; a complete
   node (it has an answer, or ended without a step delimiter) is its own rollout;
4. back-propagation: the value is added to every node on the path (N += 1, W += value).
Every rollout is a candidate; a complete node selected again is not rolled out or valued again (its value is
back-propagated once more), so a problem may end with fewer candidates than simulations. The answer (`selection`): "visits" descends from the root by most visits (ties
to the higher Q) to a node with no visited child and takes the best-valued rollout through it; "value"
takes the best-valued rollout overall. The budget is the number of simulations; the ledger counts every
token generated (steps and rollouts) and every token the verifier read.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.protocols import Extractor, Generator, Verifier
from ttc.contracts.records import Completion, Ledger, Problem, ProblemResult, SamplingParams, Verdict
from ttc.contracts.rules import sample_seed
from ttc.contracts.vocab import MCTS_SELECTIONS, MctsSelection
from ttc.strategies.common import budget_of, guided_search
from ttc.strategies.steps import (Ask, Path, candidates, expand_round, generate, guided_need, is_complete,
                                  step_score, verify_round)



@dataclasses.dataclass(eq=False)
class Node:
    """A partial solution in the tree, with its visit count N, total value W and prior P."""

    text: str
    parts: list[Completion]
    prior: float = 0.0
    complete: bool = False
    parent: "Node | None" = None
    children: list["Node"] = dataclasses.field(default_factory=list)
    visits: int = 0
    value: float = 0.0
    rollouts: list[int] = dataclasses.field(default_factory=list)  # candidates whose path passes here
    valued: tuple[int, float] | None = None  # a complete node's (candidate, value), once valued
    started: list[int] = dataclasses.field(default_factory=list)  # candidates rolled out from here

    @property
    def path(self) -> Path:
        """The partial solution this node holds, as a step search's path."""
        return Path(self.text, tuple(self.parts))

    @property
    def q(self) -> float:
        """Mean value of the simulations through this node (0 before any)."""
        return self.value / self.visits if self.visits else 0.0


def puct(node: Node, c: float) -> Node:
    """The child maximising Q + c P sqrt(N) / (1 + N_child); ties to the higher prior, then the earlier."""
    root_n = math.sqrt(node.visits)
    best = max(range(len(node.children)), key=lambda i: (
        node.children[i].q + c * node.children[i].prior * root_n / (1 + node.children[i].visits),
        node.children[i].prior, -i))
    return node.children[best]


def select_leaf(root: Node, c: float) -> Node:
    """Descend by PUCT to a node with no children, or a complete one."""
    node = root
    while node.children and not node.complete:
        node = puct(node, c)
    return node


def backpropagate(leaf: Node, value: float, candidate: int) -> None:
    """Add one simulation of `value` (whose rollout is `candidate`) to the leaf and every ancestor."""
    node: Node | None = leaf
    while node is not None:
        node.visits += 1
        node.value += value
        node.rollouts.append(candidate)
        node = node.parent


def most_visited(root: Node) -> Node:
    """Follow the most visited child (ties to the higher Q) down to a node with no visited child."""
    node = root
    while any(ch.visits for ch in node.children):
        node = max(node.children, key=lambda ch: (ch.visits, ch.q))
    return node


class MCTS:
    """PUCT tree search with verifier priors, rollouts and back-propagation; see the module docstring."""

    def __init__(self, simulations: int = 16, expand: int = 3, c_puct: float = 1.0, selection: MctsSelection = "visits",
                 temperature: float = 0.8, step_delim: str = "\n", step_tokens: int = 40, rollout_tokens: int = 200,
                 name: str | None = None) -> None:
        if selection not in MCTS_SELECTIONS:
            raise bad_choice("strategy.selection", selection, MCTS_SELECTIONS)
        self.budget = budget_of(simulations, "simulations", "simulations")
        if expand < 1 or c_puct < 0:
            raise ConfigError(f"strategy.expand={expand} must be >= 1 and strategy.c_puct={c_puct} >= 0")
        self.sims, self.expand, self.c, self.selection, self.delim = int(simulations), int(expand), float(c_puct), \
            selection, step_delim
        self.params = SamplingParams(temperature=temperature, max_tokens=step_tokens, stop=(step_delim,))
        self.rollout = SamplingParams(temperature=0.0, max_tokens=rollout_tokens)
        self.name = name or "mcts"

    def verifier_need(self) -> str:
        """VerifierNeed (ttc.contracts.protocols): priors and values come from a verifier."""
        return guided_need(self.name, "a PRM or an ORM")

    @guided_search
    def run(self, problems: Sequence[Problem], generator: Generator, verifier: Verifier | None,
            extract: Extractor, seed: int) -> list[ProblemResult]:
        """Strategy.run (ttc.contracts.protocols): every rollout per problem, the chosen one and the ledger."""
        roots = [Node("", []) for _ in problems]
        cands: list[list[tuple[str, list[Completion], Verdict]]] = [[] for _ in problems]
        ledgers = [Ledger() for _ in problems]
        for it in range(self.sims):
            leaves = [select_leaf(r, self.c) for r in roots]
            grow = [i for i, leaf in enumerate(leaves) if not leaf.complete]
            self._expand(problems, generator, verifier, leaves, grow, extract, seed, it, ledgers)
            picks = [max(leaf.children, key=lambda ch: ch.prior) if leaf.children else leaf for leaf in leaves]
            self._simulate(problems, generator, verifier, picks, cands, ledgers)
        return [self._result(p, root, cs, led, extract) for p, root, cs, led in zip(problems, roots, cands, ledgers)]

    def _expand(self, problems, generator, verifier, leaves, grow, extract, seed, it, ledgers) -> None:
        """Each growing leaf gets `expand` sampled children (one generator call), valued for their priors (one
        verifier call)."""
        asks = [Ask(i, leaves[i].path, [sample_seed(seed, problems[i].id, it * 2**20 + k) for k in range(self.expand)])
                for i in grow]
        new = expand_round(problems, generator, self.params, asks, self.delim, ledgers)
        for i in grow:
            leaves[i].children += [Node(p.text, list(p.parts), parent=leaves[i],
                                        complete=is_complete(p.text, extract, self.delim)) for p in new[i]]
        scored = [i for i in grow if leaves[i].children]
        verdicts = verify_round(verifier, problems, scored, [[ch.text for ch in leaves[i].children] for i in scored],
                                ledgers)
        for i, vs in zip(scored, verdicts):
            for ch, v in zip(leaves[i].children, vs):
                ch.prior = step_score(v)

    def _simulate(self, problems, generator, verifier, picks, cands, ledgers) -> None:
        """Roll out and value each problem's pick; a complete node valued before is not valued again (its
        candidate and value are reused: a terminal state's value does not change)."""
        fresh = [i for i, node in enumerate(picks) if node.valued is None]
        roll = [i for i in fresh if not picks[i].complete]
        rows = generate(problems, generator, self.rollout, [Ask(i, picks[i].path, [0]) for i in roll], ledgers)
        texts = {i: (picks[i].text, picks[i].parts) for i in fresh}
        for i, row in zip(roll, rows):
            texts[i] = (picks[i].text + row[0].text, picks[i].parts + [row[0]])
        verdicts = verify_round(verifier, problems, fresh, [[texts[i][0]] for i in fresh], ledgers)
        for i, [v] in zip(fresh, verdicts):
            cands[i].append((texts[i][0], texts[i][1], v))
            picks[i].started.append(len(cands[i]) - 1)
            if picks[i].complete:
                picks[i].valued = (len(cands[i]) - 1, v.score)
            backpropagate(picks[i], v.score, len(cands[i]) - 1)
        for i, node in enumerate(picks):
            if i not in texts:
                k, value = node.valued
                backpropagate(node, value, k)

    def _result(self, problem, root, cands, ledger, extract) -> ProblemResult:
        if self.selection == "visits":
            pool = most_visited(root).rollouts or list(range(len(cands)))
        else:
            pool = list(range(len(cands)))
        chosen = max(pool, key=lambda k: (cands[k][2].score, -k))
        paths = [Path(text, tuple(parts), verdict=v) for text, parts, v in cands]
        out = candidates(paths, [extract(p.text) for p in paths], lambda k, p: {"simulation": k})
        return ProblemResult(problem.id, out, chosen, ledger, self.budget, tree=recorded(root))


def recorded(root: Node) -> tuple[dict, ...]:
    """The search tree on the record (ttc.contracts.trees), breadth first: each node's step text, prior (its
    score), visits, value, the candidates rolled out from it (`candidates`), and its fate: "kept" where expanded,
    "completed" where a leaf's rollouts started, "unexplored" where no simulation went."""
    nodes: list[dict] = []
    queue: list[tuple[Node, int | None, int]] = [(root, None, -1)]
    while queue:
        node, parent, depth = queue.pop(0)
        me = len(nodes)
        step = node.text[len(node.parent.text):] if node.parent is not None else ""
        fate = ("root" if parent is None else "kept" if node.children else "completed" if node.started
                else "unexplored" if not node.visits else "kept")
        nodes.append({"id": me, "parent": parent, "round": depth, "text": step,
                      "score": None if parent is None else round(node.prior, 6), "fate": fate,
                      "visits": node.visits, "value": round(node.value, 6), "prior": round(node.prior, 6),
                      **({"candidates": list(node.started)} if node.started else {})})
        queue += [(child, me, depth + 1) for child in node.children]
    return tuple(nodes)
