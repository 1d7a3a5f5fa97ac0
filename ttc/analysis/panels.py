"""Which series each panel of a report's curves shows: at most MOST a panel, so every arm keeps a colour and a
marker of its own. The main panel holds the Pareto arms and the rules the runs asked for, with the pass@n of
their pool; the other arms follow one panel per model and pool; the references (measures that read the grades,
ttc.contracts.selections) not drawn yet come last. Curve rows in, series labels out; draws nothing.
"""

from __future__ import annotations

from typing import Iterable

from ttc.analysis.curves import series_label
from ttc.contracts.selections import ORACLE, POOL_STRATEGY, UNDRAWN, is_measure

MOST = 8  # series a panel holds while its colours, markers and bands are still told apart


def is_reference(r: dict) -> bool:
    """A measure that reads the grades (pass@n, G-Pass@k): a reference line, never an arm."""
    return is_measure(r["selection"])


def _pool(r: dict) -> tuple[str, str]:
    """What a series was read off: its model and the tag collect gives a run whose series differ ('' if none)."""
    _, paren, tag = r["series"].partition(" (")
    return r["model"], paren.strip() + tag


def _heads(rows: Iterable[dict]) -> dict[str, dict]:
    heads: dict[str, dict] = {}
    for r in rows:
        heads.setdefault(series_label(r), r)
    return heads


def default_labels(rows: Iterable[dict]) -> list[str]:
    """Every series but G-Pass@k (three more lines a pool would crowd a run's own figure), sorted."""
    return sorted(label for label, r in _heads(rows).items() if r["selection"] not in UNDRAWN)


def panels(rows: list[dict], first: Iterable[str], most: int = MOST) -> list[tuple[str, list[str]]]:
    """(title, series labels) per panel, at most `most` each. The main panel ('') holds the arms `first` names,
    in order, and for each of their models the pass@n of the pool most of them were read off; then the other
    arms, one panel per model and pool with that pool's pass@n; then the references not drawn yet."""
    heads = _heads(r for r in rows if r["level"] == "all")
    refs = [label for label, r in sorted(heads.items()) if is_reference(r)]
    main = [label for label in dict.fromkeys(first) if label in heads and not is_reference(heads[label])][:most]

    def pass_at_n(pool: tuple) -> list[str]:
        return [label for label in refs if heads[label]["selection"] == ORACLE.selection
                and _pool(heads[label]) == pool][:1]

    for model in dict.fromkeys(heads[label]["model"] for label in main):
        pools = [_pool(heads[label]) for label in main if heads[label]["model"] == model
                 and heads[label]["strategy"] == POOL_STRATEGY]
        if pools and len(main) < most:
            main += pass_at_n(max(dict.fromkeys(pools), key=pools.count))
    out, drawn = [("", main)], set(main)
    rest: dict[tuple, list[str]] = {}
    for label, r in sorted(heads.items()):
        if label not in drawn and not is_reference(r):
            rest.setdefault(_pool(r), []).append(label)
    for (model, tag), labels in sorted(rest.items()):
        ref = pass_at_n((model, tag))
        for i in range(0, len(labels), most - len(ref)):
            out.append((f"other rules: {model} {tag}".strip(), labels[i:i + most - len(ref)] + ref))
            drawn.update(out[-1][1])
    left = [label for label in refs if label not in drawn]
    out += [("reference measures (not arms)", left[i:i + most]) for i in range(0, len(left), most)]
    return out
