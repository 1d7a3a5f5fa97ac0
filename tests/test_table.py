"""The terminal table of a run and of a sweep: the rule the run asked for first, then the rest read off the
same pool; per rule its problem count, per budget (sorted as numbers, in its own unit) accuracy, the half
width of its 95% interval and FLOPs per problem."""

from hydra import compose, initialize_config_dir

from ttc.analysis.curves import COLUMNS
from ttc.analysis.outputs import asked_rows, format_table
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute


def row(series, budget, accuracy=0.5, strategy="best_of_n", selection=None, verifier="none", unit="samples",
        n=10, low=0.3, high=0.7, flops=1.2e8, model="tiny-0.3m", level="all") -> dict:
    """A curves.csv row with every real column."""
    r = dict.fromkeys(COLUMNS)
    r.update(model=model, series=series, strategy=strategy, selection=selection or series, verifier=verifier,
             budget=budget, budget_unit=unit, level=level, n_problems=n, accuracy=accuracy, ci_low=low,
             ci_high=high, estimator="exact", mc_se=0.0, flops_per_problem=flops)
    return r


def pool(tag: str = "", accuracy: float = 0.5) -> list[dict]:
    """The rules read off one pool of 16 samples, as curves.py names them."""
    rules = [("majority", "majority", "none"), ("best_of_n", "verifier", "tiny-4m-prob-mean"),
             ("oracle_pass_at_n", "oracle", "none"), ("g_pass_0.5", "g_pass", "none")]
    out = [row(name + tag, k, accuracy, selection=sel, verifier=ver) for name, sel, ver in rules for k in (1, 2, 4, 16)
           if not (sel == "g_pass" and k == 1)]
    return out + [row("sample" + tag, 1, accuracy, selection="first")]


def heads(table: str) -> list[list[str]]:
    """The budget headings of every header line."""
    return [[c.strip() for c in x.split(" | ")[2:]] for x in table.splitlines() if " | problems | " in x]


def blocks(table: str) -> dict[str, list[str]]:
    """Block title -> the rule names under it, in printed order."""
    out, title = {}, None
    lines = table.splitlines()
    for line, below in zip(lines, lines[1:] + [""]):
        name = line.split(" | ")[0].strip()
        if below.startswith("---"):
            title = name or title
            out.setdefault(title, [])
        elif title and " | " in line and not line.startswith("---"):
            out[title].append(name)
    return out


def cells(table: str, name: str) -> list[str]:
    """The cells of the line of rule `name` (after its name)."""
    [line] = [x for x in table.splitlines() if x.split(" | ")[0].strip() == name]
    return [c.strip() for c in line.split(" | ")[1:]]


def test_the_asked_rule_comes_first_and_the_pool_s_other_rules_after_it():
    rows = pool()
    table = format_table(rows, asked=asked_rows(rows, "majority"))
    got = blocks(table)
    assert list(got) == ["asked for", "also read off this pool"]
    assert got["asked for"] == ["majority"]
    # rules that pick an answer first, then the measures that read the grades
    assert got["also read off this pool"] == ["best_of_n [tiny-4m-prob-mean]", "sample", "g_pass_0.5",
                                              "oracle_pass_at_n"]
    assert table.index("asked for") < table.index("also read off this pool")
    # the verifier's rule is asked for when the run selected with it
    assert blocks(format_table(rows, asked=asked_rows(rows, "verifier")))["asked for"] == [
        "best_of_n [tiny-4m-prob-mean]"]


def test_budgets_are_numbers_in_their_unit_with_counts_and_half_widths():
    rows = pool() + [row("budget_forcing", b, strategy="budget_forcing", selection="majority", unit="thinking_tokens",
                         n=7, low=0.2, high=0.9, flops=3.4e10) for b in (128, 16, 1024)]
    table = format_table(rows, asked=asked_rows(rows, None))
    assert heads(table) == [["16 thinking tokens", "128 thinking tokens", "1024 thinking tokens"],
                            ["1 sample", "2 samples", "4 samples", "16 samples"]]
    assert "n=" not in table
    assert blocks(table)["asked for"] == ["budget_forcing"]
    assert cells(table, "budget_forcing") == ["7"] + ["0.500 ±0.35 (3.4e10)"] * 3
    assert cells(table, "majority")[:2] == ["10", "0.500 ±0.20 (1.2e8)"]
    assert cells(table, "sample") == ["10", "0.500 ±0.20 (1.2e8)"]
    # with no asked selection, no rule of the pool is marked
    assert "read off the pool (asked rule unknown)" in table


def test_names_sort_numbers_as_numbers_and_a_missing_interval_says_why():
    rows = [row(f"revision_p{p}", 16, strategy=f"revision_p{p}", selection="last") for p in (16, 2, 1)]
    rows.append(row("revision_p4", 16, strategy="revision_p4", selection="last", low=None, high=None))
    rows.append(row("revision_p8", 16, strategy="revision_p8", selection="last", n=1))
    table = format_table(rows)
    assert blocks(table)["asked for"] == ["revision_p1", "revision_p2", "revision_p4", "revision_p8", "revision_p16"]
    assert cells(table, "revision_p4")[1].startswith("0.500 ±? ") and cells(table, "revision_p8")[1].startswith(
        "0.500 ±n/a ")
    assert "±?: the row has no ci_low/ci_high" in table and "±n/a: one problem" in table
    assert "±?" not in format_table(rows[:3])


def test_a_sweep_lists_every_run_s_asked_rule_first():
    # as the sweep summary merges them: the second pool's rules are tagged with its run's name
    first, second = pool(accuracy=0.4), pool(" (strategy=majority)", accuracy=0.6)
    greedy = [row("greedy", 1, 0.8, strategy="greedy", selection="own")]
    rows = first + greedy + second
    asked = asked_rows(first, "verifier") + greedy + asked_rows(second, "majority")
    got = blocks(format_table(rows, asked=asked))
    assert got["asked for"] == ["best_of_n [tiny-4m-prob-mean]", "greedy", "majority (strategy=majority)"]
    also = got["also read off these pools"]
    assert "majority" in also and "best_of_n (strategy=majority) [tiny-4m-prob-mean]" in also
    assert not set(also) & set(got["asked for"]) and len(also) + 3 == len({(r["series"], r["verifier"]) for r in rows})


def test_two_models_keep_the_model_in_each_name_and_levels_filter():
    rows = [row("greedy", 1, strategy="greedy", selection="own", model=m) for m in ("tiny-0.3m", "tiny-1m")]
    rows.append(row("greedy", 1, 1.0, strategy="greedy", selection="own", level="3"))
    assert blocks(format_table(rows))["asked for"] == ["tiny-0.3m greedy", "tiny-1m greedy"]
    level = format_table(rows, difficulty="3")
    assert "difficulty=3" in level and cells(level, "greedy")[1].startswith("1.000")


def test_a_real_pool_without_a_verifier_asks_for_majority(tmp_path):
    """selection=verifier without a verifier selects by majority vote: that is the asked rule of its table."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["strategy=best_of_n", "strategy.n=4", "verifier=none",
                                                       "logger=none", "task.per_level=1", "task.levels=[1,2]"])
    rows = execute(cfg, tmp_path / "r", quiet=True)
    table = format_table(rows, asked=asked_rows(rows, cfg.strategy.selection))
    got = blocks(table)
    assert got["asked for"] == ["majority"]
    assert "best_of_n_logprob [self-prob-sum]" in got["also read off this pool"]
    assert heads(table) == [["1 sample", "2 samples", "4 samples"]] * 2
    mine = sorted((r for r in rows if r["series"] == "majority" and r["level"] == "all"), key=lambda r: r["budget"])
    assert cells(table, "majority") == ["2"] + [
        f"{r['accuracy']:.3f} ±{(r['ci_high'] - r['ci_low']) / 2:.2f} ({r['flops_per_problem']:.2g})".replace(
            "e+0", "e").replace("e+", "e") for r in mine]
