"""ttc processbench: ProcessBench's metric, the tiny world's exactly labelled steps, the ProcessBench files,
and a step verifier's F1 growing with its quality."""

from pathlib import Path

import pytest

from ttc.contracts.errors import ConfigError
from ttc.harness.cli import CONF_DIR
from ttc.harness.processbench import evaluate, file_rows, parse, predict, processbench_command, tiny_rows
from ttc.tasks import arith
from ttc.tasks.arith_oracle import parse_prompt, step_labels

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "processbench"


def test_the_metric_is_processbench_s():
    assert predict([0.9, 0.4, 0.2], 0.5) == 1 and predict([0.9, 0.8], 0.5) == -1
    rows = [{"label": 1}, {"label": 0}, {"label": -1}, {"label": -1}]
    out = evaluate(rows, [1, 2, -1, 0])  # errors: 1 of 2 located; correct: 1 of 2 left alone
    assert (out["error_accuracy"], out["correct_accuracy"], out["f1"]) == (0.5, 0.5, 0.5)
    assert evaluate(rows, [1, 0, -1, -1])["f1"] == 1.0


def test_tiny_rows_are_labelled_by_the_world_and_the_files_load():
    rows = tiny_rows(50)
    assert len(rows) == 100 and sum(r["label"] == -1 for r in rows) == 50
    for r in rows:
        labels = step_labels(parse_prompt(r["prompt"]), "\n".join(r["steps"]) + "\n")
        assert (labels.index(False) if False in labels else -1) == r["label"]
        assert not any(s.startswith(arith.ANSWER_PREFIX) for s in r["steps"])
    gsm = file_rows(DATA / "gsm8k.jsonl")
    assert len(gsm) == 400 and sum(r["label"] == -1 for r in gsm) == 193  # as the data README counts
    assert len(file_rows(DATA / "math.jsonl")) == 1000


def test_f1_grows_with_the_verifier_s_quality(capsys):
    scores = {q: processbench_command(["verifier=noisy_oracle", f"verifier.quality={q}", "data=tiny", "limit=200"],
                                      CONF_DIR)["f1"] for q in (0.6, 0.8, 0.999)}
    assert scores[0.6] < scores[0.8] < scores[0.999] and scores[0.999] > 0.9
    assert '"verifier": "oracle-auroc0.999"' in capsys.readouterr().out
    tiny = processbench_command(["verifier=tiny_prm", "data=tiny", "limit=40"], CONF_DIR)
    assert tiny["step_count_mismatches"] == 0 and 0.0 <= tiny["f1"] <= 1.0  # every step scored, not only the last


def test_bad_command_lines_are_one_line():
    with pytest.raises(ConfigError, match="usage: ttc processbench verifier=NAME data="):
        parse(["verifier=tiny_prm"])
    with pytest.raises(ConfigError, match="takes verifier and generator settings only; task=arith is not one"):
        parse(["verifier=tiny_prm", "data=tiny", "task=arith"])
