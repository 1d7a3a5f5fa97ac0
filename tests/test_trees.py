"""The search tree on the record (ttc.contracts.trees): for each step-level search, a worked example on the fake
model and PRM checks the recorded tree against the algorithm (nodes per round, which were pruned, REBASE's
children adding up to the round's width, particle weights summing to one per round, MCTS visits summing to the
simulations); end to end, the run loop writes trees.jsonl beside samples.jsonl, resumes past a torn tree line,
and `trees=false` writes none."""

import json
from collections import Counter, defaultdict

import pytest
from hydra import compose, initialize_config_dir
from test_step_search import PROBLEMS, STEPS, Counting, CountingPRM

from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import TREES, read_samples, read_trees
from ttc.contracts.trees import FATES, path_to
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.strategies.mcts import MCTS
from ttc.strategies.step_search import StepSearch
from ttc.strategies.tree_search import ParticleFilter, Rebase
from ttc.tasks.arith import extract_answer


def _rounds(tree) -> dict[int, list[dict]]:
    out = defaultdict(list)
    for node in tree[1:]:
        out[node["round"]].append(node)
    return out


def _whole(tree, candidates, paths: bool = True) -> None:
    """Every tree: ids are indices, parents come first, fates are known; with `paths` (a step search), each
    candidate's text starts with its path's steps."""
    assert tree[0]["fate"] == "root" and all(n["id"] == i for i, n in enumerate(tree))
    assert all(n["parent"] is not None and n["parent"] < n["id"] for n in tree[1:])
    assert all(n["fate"] in FATES for n in tree)
    for node in tree if paths else ():
        for k in node.get("candidates", []):
            text = "".join(tree[i]["text"] for i in path_to(tree, node["id"]))
            assert candidates[k].completion.text.startswith(text)


def test_beam_search_records_width_kept_and_the_rest_pruned_each_round():
    results = StepSearch(n=8, width=2).run(PROBLEMS, Counting(), CountingPRM(), extract_answer, seed=0)
    for r in results:
        _whole(r.tree, r.candidates)
        rounds = _rounds(r.tree)
        assert [len(rounds[k]) for k in range(STEPS + 1)] == [8, 8, 8, 8]  # root x 8, then 2 beams x 4 a round
        for k in range(STEPS):
            fates = Counter(n["fate"] for n in rounds[k])
            assert fates == {"kept": 2, "pruned": 6}
            kept = sorted(n["score"] for n in rounds[k] if n["fate"] == "kept")
            assert kept == sorted(n["score"] for n in rounds[k])[-2:]  # the two best steps
            assert Counter(n["parent"] for n in rounds[k + 1]) == {n["id"]: 4 for n in rounds[k] if n["fate"] == "kept"}
        assert all(n["fate"] == "completed" for n in rounds[STEPS])  # the answer round: 8 candidates
        assert sorted(k for n in rounds[STEPS] for k in n["candidates"]) == list(range(len(r.candidates)))


@pytest.mark.parametrize("kind,first,kept", [("dvts", 8, 4), ("tot", 4, 2)])
def test_dvts_and_tree_of_thoughts_record_their_rounds(kind, first, kept):
    """DVTS: 4 subtrees, each expanding its one path by 2 and keeping its best; ToT: every state proposes 4,
    the 2 best are kept."""
    results = StepSearch(n=8, width=2, kind=kind).run(PROBLEMS, Counting(), CountingPRM(), extract_answer, seed=0)
    for r in results:
        _whole(r.tree, r.candidates)
        rounds = _rounds(r.tree)
        assert len(rounds[0]) == first and all(len(rounds[k]) == 8 for k in range(1, STEPS + 1))
        for k in range(STEPS):
            assert Counter(n["fate"] for n in rounds[k]) == {"kept": kept, "pruned": len(rounds[k]) - kept}
        if kind == "dvts":  # each subtree keeps one path: the kept nodes have distinct round-0 ancestors
            for k in range(STEPS):
                roots = {path_to(r.tree, n["id"])[1] for n in rounds[k] if n["fate"] == "kept"}
                assert len(roots) == 4


def test_rebase_records_the_children_each_node_was_allotted():
    n = 8
    results = Rebase(n=n, reward_temperature=0.5).run(PROBLEMS, Counting(), CountingPRM(), extract_answer, seed=0)
    for r in results:
        _whole(r.tree, r.candidates)
        rounds = _rounds(r.tree)
        for k in range(STEPS):
            assert sum(node["children"] for node in rounds[k]) == n  # nothing completes early: the width is n
            assert all((node["fate"] == "pruned") == (node["children"] == 0) for node in rounds[k])
            assert len(rounds[k + 1]) == n
            assert Counter(x["parent"] for x in rounds[k + 1]) == {x["id"]: x["children"] for x in rounds[k]
                                                                  if x["children"]}


def test_particle_filtering_records_weights_summing_to_one_and_copies_to_n():
    n = 8
    results = ParticleFilter(n=n).run(PROBLEMS, Counting(), CountingPRM(), extract_answer, seed=0)
    for r in results:
        _whole(r.tree, r.candidates)
        per_round = defaultdict(lambda: [0.0, 0])
        for node in r.tree:
            for step, weight, copies in node.get("draws", []):
                per_round[step][0] += weight
                per_round[step][1] += copies
            if node.get("draws") and node["draws"][-1][2] == 0:
                assert node["fate"] == "resampled"
        assert sorted(per_round) == list(range(STEPS + 1))
        for weight, copies in per_round.values():
            assert weight == pytest.approx(1.0, abs=1e-6) and copies == n
        assert sum(len(x.get("candidates", [])) for x in r.tree) == n  # the n final particles


def test_mcts_records_visits_summing_to_the_simulations():
    sims = 6
    results = MCTS(simulations=sims, expand=2).run(PROBLEMS, Counting(), CountingPRM(), extract_answer, seed=0)
    for r in results:
        tree = r.tree
        _whole(tree, r.candidates)
        assert tree[0]["visits"] == sims
        assert sum(x["visits"] for x in tree if x["parent"] == 0) == sims
        for node in tree:  # a node's visits: its rollouts plus its children's
            kids = sum(x["visits"] for x in tree if x["parent"] == node["id"])
            assert node["visits"] >= kids
            assert node["score"] == (None if node["id"] == 0 else node["prior"])
        assert sorted(k for x in tree for k in x.get("candidates", [])) == list(range(len(r.candidates)))


def _run(tmp_path, *extra):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.per_level=1", "task.levels=[1,2]", "strategy=prm_beam",
                                                       "strategy.n=4", "strategy.width=2", "verifier=tiny_prm",
                                                       "logger=none", *extra])
    execute(cfg, tmp_path, quiet=True)


def test_the_run_loop_writes_trees_beside_the_samples_and_resumes_past_a_torn_tree(tmp_path):
    _run(tmp_path / "a")
    trees, lines = read_trees(tmp_path / "a"), read_samples(tmp_path / "a")
    assert set(trees) == {x["problem_id"] for x in lines}
    for pid, tree in trees.items():
        mine = sorted((x for x in lines if x["problem_id"] == pid), key=lambda x: x["candidate"])
        ends = {k: x["id"] for x in tree for k in x.get("candidates", [])}
        assert sorted(ends) == [x["candidate"] for x in mine]
        for k, x in enumerate(mine):  # each candidate's text is its path's steps; its score, its last step's
            steps = [tree[i]["text"] for i in path_to(tree, ends[k])]
            assert x["text"] == "".join(steps) and tree[ends[k]]["score"] == x["info"]["step_score"]
    size = (tmp_path / "a" / TREES).stat().st_size
    with open(tmp_path / "a" / TREES, "a") as fh:
        fh.write('{"problem_id": "torn", "nod')  # a kill mid-write
    _run(tmp_path / "a")  # resumes: nothing left to do, the torn piece cut
    assert (tmp_path / "a" / TREES).stat().st_size == size and read_trees(tmp_path / "a") == trees
    (tmp_path / "a" / TREES).write_text("not json\n" + (tmp_path / "a" / TREES).read_text())
    with pytest.raises(ConfigError, match=r"trees.jsonl line 1 is not a tree line .*sed -i '1d'"):
        read_trees(tmp_path / "a")
    _run(tmp_path / "b", "trees=false")
    assert not (tmp_path / "b" / TREES).exists()
    assert [(x["problem_id"], x["text"]) for x in read_samples(tmp_path / "b")] == [
        (x["problem_id"], x["text"]) for x in lines]  # the same search, unrecorded


def test_revision_chains_and_budget_forced_traces_are_chains_from_the_root(small):
    from test_sequential import Constant

    from ttc.strategies.budget_forcing import BudgetForcing
    from ttc.strategies.revision import Revision
    from ttc.tasks.arith_task import ArithTask

    task = ArithTask(levels=[2, 3], per_level=2)
    problems = [p.public() for p in task.problems()]
    for r in Revision(n=6, parallel=2, selection="verifier").run(problems, small, Constant(0.3), task.extract, 0):
        tree = r.tree
        _whole(tree, r.candidates, paths=False)  # each attempt is a whole solution, not a step
        assert len(tree) == 7 and [x["parent"] for x in tree[1:]] == [0, 1, 2, 0, 4, 5]  # two chains of three
        for x in tree[1:]:
            (k,) = x["candidates"]
            c = r.candidates[k]
            assert x["text"] == c.completion.text and x["score"] == 0.3 and x["round"] == c.info["attempt"]
    think = ArithTask(levels=[2, 3], per_level=2, mode="think")
    forced = BudgetForcing(max_thinking=400, min_thinking=400, max_waits=2).run(
        [p.public() for p in think.problems()], small, None, think.extract, seed=0)
    waited = 0
    for r in forced:
        tree, c = r.tree, r.candidates[0]
        assert "".join(x["text"] for x in tree) == c.completion.text  # the trace, segment by segment
        assert [x["forced"] for x in tree[1:-1]] == ["Wait"] * c.info["waits"] and tree[-1]["candidates"] == [0]
        assert all(x["text"].endswith("Wait") for x in tree[1:-1])
        waited += c.info["waits"]
    assert waited > 0  # the worked example really forced continuations


def test_shards_merge_their_trees_and_a_malformed_tree_is_one_line(tmp_path):
    """`ttc merge` keeps each shard's trees; a tree whose ids are not its indices (or whose parent comes after it)
    is refused in one line, not drawn wrong."""
    from ttc.harness.shards import merge

    _run(tmp_path / "whole", "batch_size=1")  # the shards' batches: one problem each
    for shard in (0, 1):
        _run(tmp_path / f"s{shard}", "num_shards=2", f"shard={shard}", "batch_size=1")
        assert len(read_trees(tmp_path / f"s{shard}")) == 1
    merge(tmp_path / "merged", [tmp_path / "s0", tmp_path / "s1"])
    whole = read_trees(tmp_path / "whole")
    assert read_trees(tmp_path / "merged") == whole and len(whole) == 2
    pid, nodes = next(iter(whole.items()))
    for broken in ([{**nodes[0], "id": 1}, *nodes[1:]], [nodes[0], {**nodes[1], "parent": 5}, *nodes[2:]],
                   [nodes[0], {**nodes[1], "fate": "lost"}, *nodes[2:]]):
        (tmp_path / "bad").mkdir(exist_ok=True)
        (tmp_path / "bad" / TREES).write_text(json.dumps({"problem_id": pid, "nodes": broken}) + "\n")
        with pytest.raises(ConfigError, match=r"line 1 is not a tree line"):
            read_trees(tmp_path / "bad")


def test_mcts_marks_children_no_simulation_reached_unexplored():
    results = MCTS(simulations=3, expand=3).run(PROBLEMS, Counting(), CountingPRM(), extract_answer, seed=0)
    for r in results:
        fates = Counter(x["fate"] for x in r.tree)
        assert fates["unexplored"] > 0 and all((x["fate"] == "unexplored") == (x["visits"] == 0) for x in r.tree[1:])
