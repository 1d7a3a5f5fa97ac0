"""The search tree on the record: every node a step-level search creates, one `trees.jsonl` line per problem
beside samples.jsonl (the run's identity, the problem id, its nodes), so a search is seen, not only scored.

A node is one step: `id` (0 is the root: the prompt, no text), `parent`, `round` (the search round that made
it; the root's is -1), `text` (the step's own text, once: a path's text is its ancestors' steps joined), `score`
(the verifier's score of the step, None until scored), `fate`, and the strategy's own numbers:
- "kept": carried into the next round (REBASE: `children`, the children it was allotted; particle filtering:
  `copies`, how many particles the resampling drew from it, and `weight`, its normalised weight that round);
- "pruned": a round dropped it (beam search's ranking, REBASE's zero allotment);
- "resampled": particle filtering drew no copy of it;
- "completed": a final candidate (`candidates`: its indices among the problem's candidates, as in samples.jsonl;
  several where particle filtering's resampling copied it);
- "unexplored": MCTS expanded it but no simulation ever went through it;
- "root": node 0.
MCTS nodes also carry `visits`, `value` and `prior`. Sequential strategies record chains from the root
(`chain_tree`): a revision chain's attempts, each a whole solution scored by the verifier; a budget-forced
trace's segments, each ending where the strategy forced a continuation (`forced`: the string it inserted). Strategies build a problem's tree with a `Grove` and put
it on their ProblemResult (`tree`); the run loop writes it (ttc.harness.store) and ttc.contracts.rundir reads it.
Knows nothing about files.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence, TypedDict

Fate = Literal["root", "kept", "pruned", "resampled", "completed", "unexplored"]
FATES: tuple[Fate, ...] = ("root", "kept", "pruned", "resampled", "completed", "unexplored")


class Node(TypedDict, total=False):
    """One node of a search tree (see the module docstring); the strategy's own numbers ride beside these."""

    id: int
    parent: int | None
    round: int
    text: str
    score: float | None
    fate: Fate


class Grove:
    """The trees of one strategy call, one per problem, grown as the search goes: `add` a step, `score` it, set
    its `fate`; `tree(i)` is problem i's nodes in creation order."""

    def __init__(self, problems: int) -> None:
        self.nodes: list[list[Node]] = [[{"id": 0, "parent": None, "round": -1, "text": "", "score": None,
                                          "fate": "root"}] for _ in range(problems)]

    def add(self, problem: int, parent: int, round_: int, text: str) -> int:
        """A new node under `parent` (its fate "kept" until told otherwise); its id."""
        nodes = self.nodes[problem]
        nodes.append({"id": len(nodes), "parent": parent, "round": round_, "text": text, "score": None,
                      "fate": "kept"})
        return len(nodes) - 1

    def score(self, problem: int, node: int, score: float) -> None:
        """The verifier's score of node `node`'s step."""
        self.nodes[problem][node]["score"] = round(float(score), 6)

    def fate(self, problem: int, nodes: Sequence[int], fate: Fate, **extra: Any) -> None:
        """Set the fate of `nodes` (and the strategy's numbers `extra`, the same for each)."""
        for node in nodes:
            self.nodes[problem][node].update({"fate": fate, **extra})

    def log(self, problem: int, node: int, key: str, entry: list) -> None:
        """Append `entry` to node `node`'s list `key` (a per-round record, e.g. particle filtering's draws)."""
        self.nodes[problem][node].setdefault(key, []).append(entry)  # type: ignore[misc]

    def tree(self, problem: int) -> tuple[Node, ...]:
        """Problem `problem`'s nodes, in creation order (ids are indices)."""
        return tuple(self.nodes[problem])


def chain_tree(chains: Sequence[Sequence[tuple[str, float | None, Fate, dict]]]) -> tuple[Node, ...]:
    """The tree of sequential chains (revision chains, budget-forced traces): each chain a path down from the
    root, one node per entry (text, score, fate, the strategy's numbers), its round the entry's place."""
    grove = Grove(1)
    for chain in chains:
        parent = 0
        for depth, (text, score, fate, extra) in enumerate(chain):
            parent = grove.add(0, parent, depth, text)
            if score is not None:
                grove.score(0, parent, score)
            grove.fate(0, [parent], fate, **extra)
    return grove.tree(0)


def path_to(nodes: Sequence[Node], node: int) -> list[int]:
    """The ids from the root to `node`."""
    out = [node]
    while nodes[out[-1]]["parent"] is not None:
        out.append(nodes[out[-1]]["parent"])  # type: ignore[arg-type]
    return out[::-1]
