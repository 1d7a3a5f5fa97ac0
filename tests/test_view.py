"""`ttc view`: the page of two runs on the same problems (best-of-n and PRM beam search on the tiny world), opened
from file:// in headless Chromium: no script error, every problem listed, and the problem named in the URL drawn
with as many nodes as its record (the beam run's recorded tree; best-of-n's candidates as leaves)."""

import json
import re
import shutil
import subprocess

import pytest
from hydra import compose, initialize_config_dir

from ttc.analysis.view import key, layout, main
from ttc.contracts.rundir import read_samples, read_trees
from ttc.contracts.trees import path_to
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute


def _run(path, *strategy):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.per_level=2", "task.levels=[1,3,5]", "verifier=tiny_prm",
                                                       "logger=none", *strategy])
    execute(cfg, path, quiet=True)


def test_layout_puts_leaves_in_order_and_parents_over_their_children():
    nodes = [{"id": 0, "parent": None}, {"id": 1, "parent": 0}, {"id": 2, "parent": 0}, {"id": 3, "parent": 1},
             {"id": 4, "parent": 1}, {"id": 5, "parent": 2}]
    assert layout(nodes) == {3: (0.0, 2), 4: (1.0, 2), 1: (0.5, 1), 5: (2.0, 2), 2: (2.0, 1), 0: (1.25, 0)}
    chain = [{"id": 0, "parent": None}] + [{"id": i, "parent": i - 1} for i in range(1, 5000)]
    assert layout(chain)[4999] == (0.0, 4999)  # deep chains: no recursion limit


def test_the_page_lists_every_problem_and_draws_a_problems_tree_in_chromium(tmp_path):
    _run(tmp_path / "bon", "strategy=best_of_n", "strategy.n=4")
    _run(tmp_path / "beam", "strategy=prm_beam", "strategy.n=4", "strategy.width=2")
    out = tmp_path / "page"
    main([str(tmp_path / "bon"), str(tmp_path / "beam"), "--out", str(out)])
    trees, lines = read_trees(tmp_path / "beam"), read_samples(tmp_path / "bon")
    ids = sorted({x["problem_id"] for x in lines})
    index = json.loads(re.search(r"window.TTC = (.*);\n", (out / "index.html").read_text()).group(1))
    assert sorted(p["id"] for p in index["problems"]) == ids and len(ids) == 6
    for pid in ids:  # one lazily loaded script per run and problem
        assert (out / "data" / "r0" / f"{key(pid)}.js").exists() and (out / "data" / "r1" / f"{key(pid)}.js").exists()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium: `make test` installs it (apt); the files were checked without a browser")
    pid = max(ids, key=lambda i: len(trees[i]))  # the largest tree
    dom = subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=5000",
                          "--dump-dom", (out / "index.html").as_uri() + f"#problem={pid}"],
                         capture_output=True, text=True, timeout=120).stdout
    dom = re.sub(r"<script.*?</script>", "", dom, flags=re.S)  # the drawn page, not its code
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-errors="0"' in body and f'data-shown="{pid}"' in body
    assert f"{len(ids)} of {len(ids)} problems" in dom and dom.count('href="#problem=') == len(ids)
    columns = re.split(r'<div class="run" data-run="', dom)[1:]
    drawn = [len(re.findall(r'class="node[ "]', c)) for c in columns]
    assert drawn == [4 + 1, len(trees[pid])] and len(trees[pid]) > 5
    assert len(re.findall(r'class="node[^"]*pruned', columns[1])) == sum(
        n["fate"] == "pruned" for n in trees[pid])  # pruned branches faded
    beam = [x for x in read_samples(tmp_path / "beam") if x["problem_id"] == pid]
    chosen = next(x["candidate"] for x in beam if x["selected"])
    end = next(n["id"] for n in trees[pid] if chosen in n.get("candidates", []))
    picked = re.findall(r'class="node[^"]*picked" data-id="(\d+)"', columns[1])
    assert [int(i) for i in picked] == path_to(trees[pid], end)  # the path to the selected answer, root first
