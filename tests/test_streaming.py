"""samples.jsonl read a problem at a time: the per-problem fields written once, lines made whole on reading, and
curves derived from the stream equal to the whole-file derivation byte for byte (a real tiny-world pool of
N = 256 and the default sweep's pool); damage and duplicates behave as before."""

import json
import shutil

import pytest
from hydra import compose, initialize_config_dir

from ttc.analysis.curves import per_problem, summarize
from ttc.analysis.outputs import derive_curves, to_csv
from ttc.contracts.cards import pretraining_flops
from ttc.contracts.errors import ConfigError
from ttc.contracts.rundir import SampleStream, read_record, read_samples
from ttc.contracts.samples import SHARED
from ttc.harness.cli import CONF_DIR
from ttc.harness.grade import grade_file, task_of
from ttc.harness.run import execute


def _run(run_dir, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["logger=none", *overrides])
    execute(cfg, run_dir, quiet=True)


def _whole_file_curves(run_dir) -> str:
    """curves.csv as it was derived before streaming: every line read into memory, grouped by problem."""
    lines = read_samples(run_dir)
    return to_csv(summarize(per_problem(lines), pretraining_flops(read_record(run_dir).get("card"))))


def _raw(run_dir) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A real tiny-world pool: 3 problems (levels 1-3) x 256 samples with verifier scores (every pooled rule
    applies)."""
    run = tmp_path_factory.mktemp("pool") / "n256"
    _run(run, ["strategy=best_of_n", "strategy.n=256", "task.per_level=1", "task.levels=[1,2,3]", "batch_size=3"])
    return run


def test_per_problem_fields_are_written_once_and_read_back_whole(pool):
    raw = _raw(pool)
    assert len(raw) == 3 * 256
    firsts = [x for x in raw if "shared" not in x]
    assert len(firsts) == 3 and all(x["candidate"] == 0 and set(SHARED) <= set(x) for x in firsts)
    later = [x for x in raw if "shared" in x]
    assert all(x["shared"] == sorted(SHARED) and not set(SHARED) & set(x) for x in later)
    whole = read_samples(pool)
    head = {x["problem_id"]: x for x in whole if x["candidate"] == 0}
    assert all(x[k] == head[x["problem_id"]][k] for x in whole for k in SHARED) and "shared" not in whole[1]
    assert all(len(x["prompt"]) > 10 and x["ledger"]["generated_tokens"] > 0 for x in whole)
    written, read = (pool / "samples.jsonl").stat().st_size, sum(len(json.dumps(x)) + 1 for x in whole)
    assert written < 0.8 * read  # the prompt and ledger, 255 times a problem, were over a fifth of the file


def test_streamed_curves_equal_the_whole_file_derivation_byte_for_byte(pool, tmp_path):
    want = _whole_file_curves(pool)
    assert (pool / "curves.csv").read_text() == want  # the run loop derived its curves from the stream
    assert want.count("\n") > 100 and "weighted_vote" in want and "majority" in want
    # a run written before lines were compacted (every line whole) reads the same and derives the same curves
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(pool / "run.json", old / "run.json")
    (old / "samples.jsonl").write_text("".join(json.dumps(x, sort_keys=True) + "\n" for x in read_samples(pool)))
    assert read_samples(old) == read_samples(pool)
    curves = derive_curves(SampleStream(old), pretraining_flops(read_record(old).get("card")))
    assert curves.csv == want


@pytest.mark.slow
def test_the_default_sweeps_pool_streams_to_the_same_curves(tmp_path):
    """The default job's best-of-16 pool (what `make run` runs), derived both ways."""
    _run(tmp_path / "bon", ["strategy=best_of_n"])
    assert (tmp_path / "bon" / "curves.csv").read_text() == _whole_file_curves(tmp_path / "bon")


def test_the_stream_holds_one_problem_and_keeps_the_damage_rules(pool, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(pool / "run.json", copy / "run.json")
    rows = (pool / "samples.jsonl").read_bytes().splitlines(keepends=True)
    block = rows[:256]
    # a block appended twice counts once; a torn last write is left out and marked as the tail
    (copy / "samples.jsonl").write_bytes(b"".join(rows[:512] + block + rows[512:600] + [rows[600][:40]]))
    stream = SampleStream(copy)
    sizes = [len(lines) for lines in stream]
    assert sizes == [256, 256] and len(stream.done) == 2 and len(stream.partial) == 1
    assert len(stream.partial[json.loads(rows[512])["problem_id"]]) == 88
    assert stream.tail == sum(len(r) for r in rows[:512])
    # a later line whose problem's first line is gone is damage: one line naming the line and the fix
    (copy / "samples.jsonl").write_bytes(b"".join(rows[1:256]))
    with pytest.raises(ConfigError, match=r"line 1 takes \['ledger', 'prompt', 'reference'\] from its problem's "
                                          r"first line, which is not before it.*sed -i '1d'"):
        list(SampleStream(copy))


def test_ttc_grade_regrades_a_runs_own_samples_file(pool, tmp_path):
    """The compacted record stays `ttc grade`-compatible: its lines are graded as they are, to the run's grades."""
    shutil.copy(pool / "samples.jsonl", tmp_path / "s.jsonl")
    task, _ = task_of(["task=arith", "task.per_level=1", "task.levels=[1,2,3]"], CONF_DIR)
    results, scores = grade_file(task, tmp_path / "s.jsonl")
    assert [r["passed"] for r in results] == [x["correct"] for x in _raw(pool)] and len(results) == 3 * 256
    assert 0 < scores["pass@1"] < 1
