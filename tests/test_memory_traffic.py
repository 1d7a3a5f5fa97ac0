"""Memory traffic (ttc.contracts.cards): the KV bytes a generation's decode steps read, against Kinetics' cost
model written out here from its code (Sadhukhan et al. 2025, cost_model/utils.py `dense_cost`; not imported) on the
tiny models' and SmolLM2-135M's shapes, and against a direct count of a real KV cache while the tiny model decodes."""

import pytest
import torch

from ttc.contracts.cards import HARDWARE, ModelCard, eflops, flops_per_byte, load_card
from ttc.contracts.errors import ConfigError
from ttc.generators.models import resolve_model

SMOLLM2 = ModelCard(name="smollm2-135m", non_embedding_parameters=106_168_320, layers=30, hidden_size=576,
                    context=8192, attention_dim=576, vocab_size=49_152, kv_dim=192)  # 9 heads, 3 KV heads of 64


def kinetics_dense_cost(nparams, num_attn_heads, num_kv_heads, head_dim, e_flops, context_length, generation_length,
                        num_trials=1):
    """Kinetics' dense cost model as its code writes it (in FLOPs, without its 1e-12 scaling): (compute, memory);
    memory is bf16 KV bytes x e_flops, the prompt's KV shared by the trials."""
    g = generation_length
    compute = (2 * nparams * g + 2 * (2 * context_length + g) * g * num_attn_heads * head_dim) * num_trials
    memory = 2 * (2 * context_length + g * num_trials) * g * num_kv_heads * head_dim * e_flops
    return compute, memory


@pytest.mark.parametrize("card", [load_card(resolve_model("tiny-0.3m")), load_card(resolve_model("tiny-4m")), SMOLLM2],
                         ids=lambda c: c.name)
def test_kv_bytes_and_flops_equal_kinetics_dense_cost(card):
    ctx, g, e = 512, 8192, flops_per_byte("h100")
    head_dim = 16 if card.name.startswith("tiny") else 64
    heads, kv_heads = card.attention_dim // head_dim, card.kv_dim // head_dim
    compute, memory = kinetics_dense_cost(card.non_embedding_parameters, heads * card.layers, kv_heads * card.layers,
                                          head_dim, e, ctx, g)
    ours = card.generation_kv_bytes(ctx, g, bytes_per_element=2)
    assert ours * e == pytest.approx(memory, rel=1e-3)  # Kinetics' g^2/2 against our exact sum: ~1/g apart
    decode = card.generation_flops(ctx, 0, g)[1] - card.generation_flops(ctx, 0, g)[0]
    output = 2.0 * card.vocab_size * card.hidden_size * (g - 1)  # the logits, which Kinetics leaves out
    assert decode - output == pytest.approx(compute, rel=1e-3)
    assert eflops(decode, ours, "h100") == pytest.approx(decode + memory, rel=1e-3)
    # n samples: ttc charges each candidate its own prompt reads; Kinetics shares them between the trials
    n = 8
    _, shared = kinetics_dense_cost(card.non_embedding_parameters, heads * card.layers, kv_heads * card.layers,
                                    head_dim, 1.0, ctx, g, num_trials=n)
    prompt_reads = 2 * 2 * card.layers * card.kv_dim * ctx * g  # one pass over the prompt's K and V a step, bf16
    assert n * ours == pytest.approx(shared + (n - 1) * prompt_reads, rel=1e-3)
    assert card.kv_dim < card.attention_dim if card is SMOLLM2 else card.kv_dim == card.attention_dim


def test_kv_bytes_equal_a_direct_count_of_the_cache_a_real_decode_reads():
    """tiny-0.3m decodes greedily (in its stored dtype): each decode step reads every key and value in its layer's cache once
    it holds the step's own; the sum of those tensors' bytes over the steps is what the card says."""
    from transformers import AutoModelForCausalLM

    path = resolve_model("tiny-0.3m")
    model, card = AutoModelForCausalLM.from_pretrained(str(path)).eval(), load_card(path)
    prompt, generated = torch.tensor([[5, 17, 33, 8, 41, 9, 12]]), 20
    read, width = 0, set()
    with torch.no_grad():
        out = model(prompt, use_cache=True)
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(generated - 1):  # the last sampled token is never fed back
            out = model(token, past_key_values=out.past_key_values, use_cache=True)
            layers = out.past_key_values.layers
            read += sum(layer.keys.numel() * layer.keys.element_size() + layer.values.numel() *
                        layer.values.element_size() for layer in layers)
            width |= {layer.keys.element_size() for layer in layers}
            token = out.logits[:, -1].argmax(-1, keepdim=True)
    (size,) = width
    assert len(layers) == card.layers and read == card.generation_kv_bytes(prompt.shape[1], generated, size)
    assert card.generation_kv_bytes(7, 1) == 0.0  # one token: sampled after the prefill, nothing decoded


def test_hardware_profiles():
    assert flops_per_byte("h100") == pytest.approx(989e12 / 3.35e12) and set(HARDWARE) >= {"h100", "a100"}
    with pytest.raises(ConfigError, match=r"cost.hardware=tpu is not a known profile; choose one of: h100"):
        flops_per_byte("tpu")


def test_a_runs_lines_and_curves_carry_the_kv_bytes(tmp_path):
    """Each sample line records the KV bytes its decode read (float32 here: 4 bytes a value), the ledger sums
    them, and curves.csv's kv_bytes_per_problem at budget k is k samples' mean."""
    import csv

    from hydra import compose, initialize_config_dir

    from ttc.contracts.rundir import read_samples
    from ttc.harness.cli import CONF_DIR
    from ttc.harness.run import execute

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["strategy=majority", "strategy.n=4", "verifier=none",
                                                       "task.per_level=1", "task.levels=[1,3]", "logger=none"])
    execute(cfg, tmp_path, quiet=True)
    card, lines = load_card(resolve_model("tiny-0.3m")), read_samples(tmp_path)
    for x in lines:
        assert x["kv_bytes"] == card.generation_kv_bytes(x["prompt_tokens"], x["generated_tokens"], 4) > 0
    for pid in {x["problem_id"] for x in lines}:
        mine = [x for x in lines if x["problem_id"] == pid]
        assert mine[0]["ledger"]["kv_bytes"] == pytest.approx(sum(x["kv_bytes"] for x in mine))
    rows = [r for r in csv.DictReader(open(tmp_path / "curves.csv")) if r["series"] == "majority" and r["level"] == "all"]
    mean = sum(x["kv_bytes"] for x in lines) / len(lines)
    for r in rows:
        assert float(r["kv_bytes_per_problem"]) == pytest.approx(int(r["budget"]) * mean, rel=1e-5)
    assert {int(r["budget"]) for r in rows} == {1, 2, 4}


def test_the_report_reads_costs_on_another_axis_and_names_the_arms_it_ranks_differently(tmp_path):
    """`ttc report --cost eflops`: every row's cost is FLOPs + KV bytes x the H100's FLOPs per byte, the page says
    which axis it is on, and arms that FLOPs and eFLOPs order oppositely are named (long greedy reasoning in think
    mode against short majority voting: the KV cache grows with the length of one chain)."""
    import csv
    import json

    from hydra import compose, initialize_config_dir

    from ttc.analysis.costs import disagreements
    from ttc.analysis.report import main as report
    from ttc.harness.cli import CONF_DIR
    from ttc.harness.run import execute

    for name, extra in (("majority", ["strategy=majority", "strategy.n=4"]),
                        ("forcing", ["strategy=budget_forcing", "strategy.max_thinking=120",
                                     "strategy.min_thinking=120", "strategy.max_waits=3"])):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[*extra, "verifier=none", "task.per_level=2",
                                                           "task.levels=[2,3]", "task.mode=think", "logger=none"])
        execute(cfg, tmp_path / name, quiet=True)
    report([str(tmp_path / "majority"), str(tmp_path / "forcing"), "--out", str(tmp_path / "flops")])
    report([str(tmp_path / "majority"), str(tmp_path / "forcing"), "--out", str(tmp_path / "eflops"),
            "--cost", "eflops"])
    flops, eflops_ = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("flops", "eflops"))
    per_byte = flops_per_byte("h100")
    kv = {(r["series"], r["budget"]): float(r["kv_bytes_per_problem"]) for r in flops["curves"] if r["level"] == "all"}
    for r in eflops_["curves"]:
        if r["level"] == "all" and not r["selection"].startswith(("oracle", "g_pass")):
            base = next(x for x in flops["curves"] if x["level"] == "all" and x["series"] == r["series"]
                        and x["budget"] == r["budget"] and x["verifier"] == r["verifier"])
            assert r["flops_per_problem"] == pytest.approx(base["flops_per_problem"] + kv[(r["series"], r["budget"])]
                                                           * per_byte, rel=1e-4)
    assert eflops_["cost"] == "eFLOPs (h100)" and flops["cost"] == "FLOPs"
    assert "Cost axis" in (tmp_path / "eflops" / "report.md").read_text()
    named = disagreements(flops["curves"], eflops_["curves"], "eflops")
    assert all(f"FLOPs and eFLOPs (h100) rank these arms differently: {line}" in eflops_["warnings"] for line in named)
    assert any(line.startswith("tiny-0.3m: majority @4 costs fewer FLOPs than budget_forcing_min120_w3 @120")
               for line in named), named  # one long chain reads less KV than four samples here


def test_measured_seconds_are_an_axis_read_from_the_ledgers(tmp_path):
    """`--cost seconds`: a pool's budget k costs k/n of its problems' measured seconds (the ledgers' wall_s); not
    a curves.csv column, so a resumed run's files still equal an uninterrupted one's."""
    import json

    from hydra import compose, initialize_config_dir

    from ttc.analysis.curves import COLUMNS
    from ttc.analysis.report import main as report
    from ttc.contracts.rundir import read_samples
    from ttc.harness.cli import CONF_DIR
    from ttc.harness.run import execute

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["strategy=majority", "strategy.n=4", "verifier=none",
                                                       "task.per_level=2", "task.levels=[1,3]", "logger=none"])
    execute(cfg, tmp_path / "run", quiet=True)
    walls = [x["ledger"]["wall_s"] for x in read_samples(tmp_path / "run") if x["candidate"] == 0]
    report([str(tmp_path / "run"), "--out", str(tmp_path / "rep"), "--cost", "seconds"])
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    at = {r["budget"]: r["flops_per_problem"] for r in data["curves"] if r["series"] == "majority" and r["level"] == "all"}
    mean = sum(walls) / len(walls)
    from ttc.analysis.costs import machine
    from ttc.contracts.rundir import read_record

    here = machine(read_record(tmp_path / "run"))  # the axis names the machine that measured the seconds
    assert data["cost"] == f"seconds ({here})" and "cores" in here and mean > 0
    assert at[4] == pytest.approx(mean, rel=1e-5) and at[2] == pytest.approx(mean / 2, rel=1e-5)
    assert not any("seconds" in c for c in COLUMNS)


def test_seconds_from_two_machines_are_flagged(tmp_path):
    """Runs measured on different machines put on one seconds axis: the report says so."""
    import json
    import shutil

    from hydra import compose, initialize_config_dir

    from ttc.analysis.report import main as report
    from ttc.harness.cli import CONF_DIR
    from ttc.harness.run import execute

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["strategy=greedy", "verifier=none", "task.per_level=1",
                                                       "task.levels=[1]", "logger=none"])
    execute(cfg, tmp_path / "a", quiet=True)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    record = json.loads((tmp_path / "b" / "run.json").read_text())
    record["provenance"]["hardware"] = {"cpu": "NVIDIA Grace", "usable_cores": 72,  # as provenance writes it
                                        "gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_gib": 79.1}]}
    (tmp_path / "b" / "run.json").write_text(json.dumps(record))
    report([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "rep"), "--cost", "seconds"])
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert "NVIDIA Grace, 72 cores, 1x NVIDIA H100 80GB HBM3" in data["cost"]
    assert any("2 different machines" in w for w in data["warnings"])
