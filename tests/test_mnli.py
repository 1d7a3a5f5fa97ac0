"""MNLI from ../shared/data in both modes, end to end through the run loop on a tiny model."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.contracts.errors import ConfigError
from ttc.harness.run import execute
from ttc.tasks.mnli import LABELS, MNLITask
from ttc.contracts.rundir import read_samples

MNLI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnli" / "dev_matched.jsonl"


def _run(tmp_path, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "task=mnli", f"task.path={MNLI}", "task.limit=12", "verifier=none", *overrides])
    rows = execute(cfg, tmp_path, quiet=True)
    return rows, read_samples(tmp_path)


def test_label_scoring_picks_the_most_likely_verbaliser(tmp_path):
    rows, samples = _run(tmp_path, ["strategy=label_scoring"])
    assert len(samples) == 36  # three choices per problem
    for i in range(0, 36, 3):
        trio = samples[i:i + 3]
        assert [s["answer"] for s in trio] == list(LABELS)
        best = max(trio, key=lambda s: s["logprob"])
        assert best["selected"] and sum(s["selected"] for s in trio) == 1
        assert all(s["generated_tokens"] == 0 and s["prompt_tokens"] > 50 for s in trio)
    [row] = [r for r in rows if r["level"] == "all"]
    chosen = [s["correct"] for s in samples if s["selected"]]
    assert row["strategy"] == "label_scoring" and row["accuracy"] == pytest.approx(sum(chosen) / 12)


def test_generative_mode_votes_over_sampled_labels(tmp_path):
    short = "task.template='{premise} / {hypothesis}. Answer:'"  # the 512-char context of the tiny model
    rows, samples = _run(tmp_path, ["task.mode=generate", short, "strategy=majority", "strategy.n=2",
                                    "strategy.max_tokens=24"])
    assert len(samples) == 24 and {r["series"] for r in rows} >= {"majority", "oracle_pass_at_n"}
    assert all(s["answer"] in (None, *LABELS) for s in samples)


def test_mnli_labels_and_errors():
    task = MNLITask(path=str(MNLI))
    probs = task.problems()
    assert len(probs) == 9815 and probs[0].reference == "neutral"
    counts = {label: sum(p.reference == label for p in probs) for label in LABELS}
    assert counts == {"entailment": 3479, "neutral": 3123, "contradiction": 3213}
    assert task.extract(" maybe") == "neutral" and task.extract(" yes") == "entailment"
    gen = MNLITask(path=str(MNLI), mode="generate", limit=1)
    assert gen.extract("it is neutral... Answer: contradiction") == "contradiction"
    with pytest.raises(ConfigError, match="task.split=test is not valid"):
        MNLITask(path=str(MNLI), split="test")
