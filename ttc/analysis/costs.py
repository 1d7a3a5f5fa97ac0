"""The cost axis of a report (`ttc report --cost COST [--hardware h100]`): which measure of a per-problem record
is its cost, so curves, Pareto frontiers, the compute-optimal choice and the exchange are all drawn on it.

- flops: generator + verifier FLOPs (ttc.contracts.cards), the default;
- eflops: Kinetics' effective FLOPs, the FLOPs plus the KV-cache bytes the decode steps read times the
  hardware's FLOPs per byte (`--hardware`, ttc.contracts.cards.HARDWARE);
- kv_bytes: the KV-cache bytes alone (memory traffic);
- weight_bytes: the candidates' shares of the weights their forwards read (1/rows of each forward: what wide
  batches amortise; HF engine only, 0 elsewhere), at the batch width the run decoded at: a pool's budget k is
  k times its mean share, not what k samples decoded alone would read;
- memory_bytes: kv_bytes + weight_bytes;
- tokens: generated tokens;
- dollars: what a priced API charged (generator.price); refused for runs without prices, never invented;
- seconds: the wall-clock the strategy calls took on the machine that ran them (each run.json's provenance
  says which, and the axis is labelled with it: `machine`), a batch's share per problem; a pool's budget k is
  k/n of its problem's seconds. Measured, so not a curves.csv column (a resumed run's files must equal an
  uninterrupted one's): the report reads it from the ledgers.
Records written before kv_bytes was recorded count 0 bytes, and so do engines that book no weight reads (the
report names such runs when the axis reads weights: `unbooked`). `disagreements` names the arms two axes order
differently: where memory traffic, not arithmetic, decides which strategy is cheaper (the Kinetics finding).
"""

from __future__ import annotations

from typing import Iterable, Literal, get_args

from ttc.contracts.cards import flops_per_byte
from ttc.contracts.errors import ConfigError, bad_choice
from ttc.contracts.selections import is_measure

Cost = Literal["flops", "eflops", "kv_bytes", "weight_bytes", "memory_bytes", "tokens", "dollars", "seconds"]
COSTS: tuple[Cost, ...] = get_args(Cost)
LABELS = {"flops": "FLOPs", "eflops": "eFLOPs", "kv_bytes": "KV bytes", "weight_bytes": "weight bytes",
          "memory_bytes": "memory bytes (KV + weights)", "tokens": "generated tokens", "dollars": "dollars",
          "seconds": "seconds"}


def label(cost: Cost, hardware: str, machines: Iterable[str] = ()) -> str:
    """The axis's name as the report prints it: eFLOPs name the hardware profile, seconds the `machines` that
    measured them."""
    if cost == "eflops":
        return f"{LABELS[cost]} ({hardware})"
    named = sorted(set(machines))
    return f"{LABELS[cost]} ({'; '.join(named)})" if cost == "seconds" and named else LABELS[cost]


UNRECORDED = "a machine run.json does not name"


def machine(record: dict) -> str:
    """The machine a run's seconds were measured on, from its run.json provenance (`hardware`: CPU, usable
    cores, GPUs as ttc.harness.provenance records them); UNRECORDED where it has none."""
    hw = (record.get("provenance") or {}).get("hardware") or {}
    if not hw:
        return UNRECORDED
    gpus = [g.get("name", "GPU") if isinstance(g, dict) else str(g) for g in hw.get("gpus") or []]
    cores = hw.get("usable_cores") or hw.get("cores")
    parts = [str(hw.get("cpu") or "unknown CPU")] + ([f"{cores} cores"] if cores else [])
    return ", ".join(parts + ([f"{len(gpus)}x {gpus[0]}"] if gpus else []))


def measure(record: dict, cost: Cost, hardware: str) -> float:
    """A per-problem record's cost on the axis."""
    if cost == "flops":
        return record["flops"]
    if cost == "eflops":
        return record["flops"] + record.get("kv_bytes", 0.0) * flops_per_byte(hardware)
    if cost in ("kv_bytes", "weight_bytes"):
        return record.get(cost, 0.0)
    if cost == "memory_bytes":
        return record.get("kv_bytes", 0.0) + record.get("weight_bytes", 0.0)
    if cost == "dollars":
        if record.get("dollars") is None:
            raise ConfigError(f"--cost dollars: the runs of {record['model']} have no prices (a local model, or "
                              f"generator=openai without generator.price); choose another --cost")
        return record["dollars"]
    if cost == "seconds":
        return record.get("seconds", 0.0)
    return float(record["gen_tokens"])


def unbooked(runs: dict[str, list[dict]], cost: str) -> list[str]:
    """The runs (name -> per-problem records) whose records book no weight reads, on an axis that reads them:
    vLLM, an API, or a run written before weights were booked count KV reads alone there."""
    if cost not in ("weight_bytes", "memory_bytes"):
        return []
    return sorted(name for name, records in runs.items() if not any(r.get("weight_bytes") for r in records))


def on_axis(records: list[dict], cost: str, hardware: str) -> list[dict]:
    """The records with their cost (`flops`, what every later step reads) on the axis; the FLOPs kept beside."""
    if cost not in COSTS:
        raise bad_choice("--cost", cost, COSTS)
    if cost == "flops":
        return records
    return [{**r, "flops": measure(r, cost, hardware), "counted_flops": r["flops"]} for r in records]


def disagreements(flops_rows: list[dict], rows: list[dict], cost: Cost, most: int = 5) -> list[str]:
    """Pairs of arms (model, series and budget, every problem; not measures such as pass@n) that FLOPs and the
    axis order oppositely: the one cheaper in FLOPs is dearer on the axis. One line each, the widest first."""
    def key(r: dict) -> tuple:
        return r["model"], r["series"], r["verifier"], r["budget"]
    flops = {key(r): r["flops_per_problem"] for r in flops_rows if r["level"] == "all" and not is_measure(r["selection"])}
    other = {key(r): r["flops_per_problem"] for r in rows if r["level"] == "all" and not is_measure(r["selection"])}
    arms = sorted(k for k in flops if k in other and flops[k] > 0 and other[k] > 0)
    found = []
    for i, a in enumerate(arms):
        for b in arms[i + 1:]:
            if a[0] != b[0] or a[1] == b[1]:
                continue
            if (flops[a] - flops[b]) * (other[a] - other[b]) < 0:
                cheap, dear = (a, b) if flops[a] < flops[b] else (b, a)
                ratio = (other[cheap] / other[dear]) / (flops[cheap] / flops[dear])
                found.append((ratio, f"{cheap[0]}: {cheap[1]} @{cheap[3]} costs fewer FLOPs than {dear[1]} @{dear[3]} "
                                     f"({flops[cheap]:.3g} vs {flops[dear]:.3g}) but more {LABELS[cost]} "
                                     f"({other[cheap]:.3g} vs {other[dear]:.3g})"))
    return [line for _, line in sorted(found, key=lambda f: -f[0])[:most]]
