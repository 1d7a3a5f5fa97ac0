"""The sample line: the schema of one `samples.jsonl` line (one problem x candidate), and its one writer.

Every line of a problem carries the run's identity (`meta`, with the strategy's selection rule), the
prompt and the grader's reference (so a grade can be audited without the loader; the run loop writes lines
only after grading, and strategies and verifiers never see them), the candidate, its grade, its costs, the
verifier's verdict, the strategy's per-candidate `info`, the problem's whole ledger, and `curve`: how the
analysis turns the problem's candidates into curve points (the strategy declares it on its result):
- "pooled": n seeded samples; every selection rule is re-applied at every budget k <= n (exact estimators);
- "chains": revision chains; every shorter chain length is read off the same run;
- "fixed": one point at the run's own budget (greedy, beam search, step search, budget forcing, adaptive).
What is per problem (the prompt, the grader's reference, the problem's ledger) is written once, on the problem's
first line: `compact` drops it from every later line of the problem's block and names what it dropped in that
line's `shared` field (e.g. `"shared": ["ledger", "prompt", "reference"]`: "these are the first line's"), so a
line read alone still says where its missing fields are, and a N = 1,024 pool does not write its prompt 1,024
times. Readers (`ttc.contracts.rundir`) put the fields back: a line read there is whole, as it was before.
Knows nothing about files; `ttc.contracts.rundir` reads and validates lines against this schema.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import NotRequired, TypedDict

from ttc.contracts.info import CandidateInfo
from ttc.contracts.records import Completion, Problem, ProblemResult
from ttc.contracts.vocab import BudgetUnit, CurveKind, FinishReason


class RunMeta(TypedDict):
    """The run's identity, on every line: the run loop's `meta` (which may add the run's `selection`)."""

    task: str
    task_version: str
    grader_version: str
    strategy: str
    generator: str
    verifier: str
    run_seed: int
    problem_index: int


class SampleLine(RunMeta):
    """One line of `samples.jsonl`: the run identity, then the problem, the candidate and its costs (the
    Completion's fields, as `sample_lines` copies them), the verdict, the strategy's `info` and the ledger."""

    problem_id: str
    difficulty: int | None
    candidate: int
    n_candidates: int
    selected: bool
    budget: int
    budget_unit: BudgetUnit
    curve: CurveKind
    seed: int
    text: str
    answer: str | None
    correct: bool | None  # None: ungraded (served traffic, ttc.harness.serve_record)
    prompt_tokens: int  # the whole prompt, its cached part included
    cached_tokens: int
    generated_tokens: int
    logprob: float | None  # rounded to 6 decimals; None where none was recorded (a replayed pool without them)
    finish_reason: FinishReason
    flops: float
    prompt_flops: float
    verifier_score: float | None
    verifier_tokens: int
    verifier_flops: float
    step_scores: list[float] | None
    info: CandidateInfo
    ledger: dict[str, float]
    selection: NotRequired[str | None]  # the strategy's selection rule (run config), None where it has none
    prompt: NotRequired[str]  # the task's prompt, as the strategy was given it
    reference: NotRequired[str]  # the grader's reference, written after grading (never shown to strategies)
    # speculative decoding only: drafted/accepted tokens, acceptance rate, draft FLOPs, target forwards
    speculation: NotRequired[dict[str, float]]
    kv_bytes: NotRequired[float]  # KV cache bytes its decode steps read (absent from lines written before)
    weight_bytes: NotRequired[float]  # its share of the weights its forwards read (absent from lines written before)
    dollars: NotRequired[float | None]  # what a priced API charged; None: unpriced (a local model)


META_FIELDS = tuple(RunMeta.__annotations__)
SHARED = ("ledger", "prompt", "reference")  # per problem: on a problem's first line only (see `compact`)
# absent from lines written before they were recorded
OPTIONAL = ("selection", "prompt", "reference", "speculation", "kv_bytes", "weight_bytes", "dollars")
REQUIRED = tuple(k for k in SampleLine.__annotations__ if k not in OPTIONAL)


def sample_lines(problem: Problem, result: ProblemResult, correct: list[bool | None], meta: dict) -> list[SampleLine]:
    """One line per candidate of a problem; the problem's ledger rides on every line."""
    missing = [k for k in META_FIELDS if k not in meta]
    if missing:
        raise ValueError(f"sample_lines: meta lacks {missing[0]!r}")
    ledger = asdict(result.ledger)
    lines: list[SampleLine] = []
    for i, (cand, ok) in enumerate(zip(result.candidates, correct)):
        c, v = cand.completion, cand.verdict
        lines.append({
            **meta, "problem_id": problem.id, "difficulty": problem.difficulty, "candidate": i,
            "n_candidates": len(result.candidates), "selected": i == result.selected,
            "budget": result.budget.amount, "budget_unit": result.budget.unit, "curve": result.curve,
            "seed": c.seed, "text": c.text, "answer": cand.answer, "correct": ok, "prompt_tokens": c.prompt_tokens,
            "cached_tokens": c.cached_tokens, "generated_tokens": c.generated_tokens,
            "logprob": round(c.logprob, 6), "finish_reason": c.finish_reason, "flops": c.flops,
            "prompt_flops": c.prompt_flops, "kv_bytes": c.kv_bytes, "weight_bytes": c.weight_bytes,
            "dollars": c.dollars,
            "verifier_score": None if v is None else round(v.score, 8),
            "verifier_tokens": 0 if v is None else v.tokens, "verifier_flops": 0.0 if v is None else v.flops,
            "step_scores": None if v is None or v.step_scores is None else list(v.step_scores),
            "info": cand.info, "ledger": ledger, "prompt": problem.prompt, "reference": problem.reference,
            **({"speculation": speculation(c)} if c.drafted_tokens else {}),
        })
    return lines


def compact(lines: list[SampleLine]) -> list[dict]:
    """One problem's lines as they are written: the first whole, every later one without the per-problem fields
    (SHARED) it has equal to the first's, listed in its `shared` field instead; `restore` undoes it."""
    if not lines:
        return []
    head, out = lines[0], [lines[0]]
    for line in lines[1:]:
        same = [k for k in SHARED if k in line and k in head and line[k] == head[k]]
        out.append({**{k: v for k, v in line.items() if k not in same}, "shared": same} if same else line)
    return out


def encode(lines: list[SampleLine]) -> str:
    """One problem's block as written to samples.jsonl: its `compact` lines, one JSON object (keys sorted) a line."""
    return "".join(json.dumps(x, sort_keys=True) + "\n" for x in compact(lines))


def restore(line: dict, head: dict) -> dict:
    """A written line made whole again: the fields its `shared` names, taken from its problem's first line
    `head` (the line itself when it names none)."""
    names = line.pop("shared", None)
    for key in names or ():
        line[key] = head[key]
    return line


def speculation(c: Completion) -> dict[str, float]:
    """A speculatively decoded completion's draft statistics, as its sample line records them."""
    return {"drafted": c.drafted_tokens, "accepted": c.accepted_tokens,
            "acceptance_rate": round(c.accepted_tokens / c.drafted_tokens, 6), "draft_flops": c.draft_flops,
            "target_forwards": c.target_forwards}


LEGACY_POOLED = ("best_of_n", "majority", "sample")


def legacy_curve(line: dict) -> CurveKind:
    """The curve kind of a line written before lines carried one (strategy names decided it then)."""
    if line.get("strategy") in LEGACY_POOLED and line.get("budget_unit") == "samples":
        return "pooled"
    return "chains" if "attempt" in (line.get("info") or {}) else "fixed"

