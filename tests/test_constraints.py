"""Constrained decoding: the Python prefix classifier on a table of programs, the fenced-reply reading, the regex
mask on the tiny world (every sample in the language; unconstrained sampling is not), greedy decoding unchanged
where it already matched, syntax pruning ending samples at their first impossible line, and refusals."""

import re

import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import SamplingParams
from ttc.generators.constraints import checked_source, python_status, syntax_invalid
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.tasks.arith import make_problem, prompt

FORMAT = r"(\d+\. \d+[+-]\d+=-?\d+\n)+Answer: \d+\n"
@pytest.fixture(scope="module")
def small():
    from ttc.generators.hf import HFGenerator

    return {name: HFGenerator(name) for name in ("tiny-0.3m", "tiny-1m", "tiny-4m")}


PROMPTS = [prompt(make_problem("test", level, i)) for level in (3, 4, 5) for i in range(6)]


@pytest.mark.parametrize("source,status", [
    ("def f(x):\n    return x + 1\n", "complete"),
    ("def f(x):\n    '''doc'''\n    y = 1\n", "complete"),
    ("def f(x):\n    return (x +\n", "incomplete"),      # an open bracket
    ('def f(x):\n    """doc\n', "incomplete"),           # an open triple-quoted string
    ("def f(x):\n    for i in x:\n", "incomplete"),      # a block still to come
    ("def f(x):\n    return x)\n", "invalid"),           # an unbalanced closer
    ("def f(x):\n    y = 1\n  z = 2\n", "invalid"),      # an impossible dedent
    ("def f(x):\n    s = 'abc\n", "invalid"),            # a string the line end cannot close (a tokenizer error)
    ("def f(x):\n    y = 1 +\n", "invalid"),             # an operator with nothing after it on its line
    ("def f(x):\n    if x:\n        return 1\n    else\n", "invalid"),
    ("def f(x):\n1. 3+4=7\n", "invalid"),                # no indented block
])
def test_python_prefixes_are_classified_as_the_parser_sees_them(source, status):
    assert python_status(source) == status


def test_a_sample_is_checked_up_to_its_last_line_end_and_a_chat_reply_inside_its_fence():
    assert checked_source("def f(x):\n", "    return (x", "python") is None  # no line end yet
    assert checked_source("def f(x):\n", "    y = 1\n    return (x", "python") == "def f(x):\n    y = 1\n"
    assert checked_source("ignored", "Sure!\n```python\ndef g():\n    return 1)\n", "python_fenced") == \
        "def g():\n    return 1)\n"
    assert syntax_invalid("", "Here:\n```python\ndef g():\n    return 1)\n", "python_fenced")
    assert not syntax_invalid("", "Here:\n```python\n    return [x for x in\n", "python_fenced")  # a body, open
    assert not syntax_invalid("", "No code yet\n", "python_fenced")


def test_the_regex_mask_keeps_every_sample_in_the_language(small):
    gen = small["tiny-0.3m"]
    free = SamplingParams(temperature=1.0, max_tokens=150)
    held = SamplingParams(temperature=1.0, max_tokens=150, regex=FORMAT)
    seeds = [list(range(8))] * len(PROMPTS)
    loose = [c for row in gen.generate(PROMPTS, free, seeds) for c in row]
    tight = [c for row in gen.generate(PROMPTS, held, seeds) for c in row]
    assert sum(bool(re.fullmatch(FORMAT, c.text)) for c in loose) < len(loose)  # the model slips without it
    assert all(re.fullmatch(FORMAT, c.text) for c in tight) and all(c.finish_reason == "stop" for c in tight)
    assert all(c.logprob < 0 and len(c.token_logprobs) == c.generated_tokens for c in tight)  # the model's own


def test_greedy_text_that_already_matches_is_unchanged_by_the_mask(small):
    gen = small["tiny-4m"]
    free = gen.generate(PROMPTS, SamplingParams(temperature=0.0, max_tokens=150), [[0]] * len(PROMPTS))
    held = gen.generate(PROMPTS, SamplingParams(temperature=0.0, max_tokens=150, regex=FORMAT), [[0]] * len(PROMPTS))
    same = [(a[0], b[0]) for a, b in zip(free, held) if re.fullmatch(FORMAT, a[0].text)]
    assert len(same) >= len(PROMPTS) // 2
    assert all(a.text == b.text and a.logprob == pytest.approx(b.logprob, abs=1e-5) for a, b in same)


def test_syntax_pruning_ends_a_sample_at_its_first_impossible_line(small):
    gen = small["tiny-1m"]
    code_prompt = PROMPTS[0] + "def f(x):\n"  # the tiny model writes arithmetic steps: no indented block
    [free] = gen.generate([code_prompt], SamplingParams(temperature=1.0, max_tokens=80), [[1, 2, 3]])
    [held] = gen.generate([code_prompt], SamplingParams(temperature=1.0, max_tokens=80, syntax="python"), [[1, 2, 3]])
    for a, b in zip(free, held):
        assert b.finish_reason == "invalid" and b.text.count("\n") == 1 and a.text.startswith(b.text)
        assert b.generated_tokens < a.generated_tokens and b.flops < a.flops
        assert python_status(code_prompt + b.text) == "invalid"


def test_constraints_run_from_ttc_and_bad_values_are_refused(tmp_path):
    def compose_with(extra):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=[
                "task.levels=[4,5]", "task.per_level=4", "verifier=none", "logger=none", "strategy=best_of_n",
                "strategy.n=4", "strategy.selection=majority", "generator.model=tiny-0.3m", *extra])

    rows = execute(compose_with([f"strategy.regex='{FORMAT}'", "strategy.reject=true"]), tmp_path / "r", quiet=True)
    assert {"majority", "best_of_n_logprob", "oracle_pass_at_n"} <= {r["series"] for r in rows}
    lines = (tmp_path / "r" / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 32 and all('"rejected": false' in x for x in lines)  # every sample has its answer line
    with pytest.raises(ConfigError, match="strategy.syntax='ruby' is out of range"):
        execute(compose_with(["strategy.syntax=ruby"]), tmp_path / "bad", quiet=True)
    with pytest.raises(ConfigError, match="needs generator=tiny or another HF generator"):
        from ttc.generators.contrastive import ContrastiveGenerator
        ContrastiveGenerator("tiny-1m", "tiny-0.3m").generate(["Q"], SamplingParams(syntax="python"), [[0]])
