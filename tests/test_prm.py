"""PRM adapters on tiny randomly initialised models of each public format's architecture, with local tokenizers
carrying the same special tokens: scores are read at the right positions, batched equals one-by-one."""

import pytest
import torch
from transformers import (AutoTokenizer, LlamaConfig, LlamaForCausalLM, LlamaForTokenClassification, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForTokenClassification)

from ttc.contracts.errors import ConfigError
from ttc.generators.models import resolve_model
from ttc.verifiers.prm import ProcessRewardModel
from ttc.verifiers.prm_formats import MathShepherdFormat, QwenFormat, RLHFlowFormat, ValueHeadFormat

FORMATS = {"qwen": QwenFormat, "math_shepherd": MathShepherdFormat, "rlhflow": RLHFlowFormat,
           "value_head": ValueHeadFormat}

QWEN_TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
LLAMA_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
                  "{{ m['content'] }}<|eot_id|>{% endfor %}")
SPECIALS = {"qwen": (["<|im_start|>", "<|im_end|>", "<extra_0>"], QWEN_TEMPLATE),
            "math_shepherd": (["ки"], None), "rlhflow": (["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
                                                         LLAMA_TEMPLATE), "value_head": ([], None)}
SOLUTION = "Step 1: 3+4=7\n\nStep 2: 7*2=14\n\nThe answer is 14"
PROMPT = "What is (3+4)*2?"


def _bare(text):
    return "".join(text.split())


def _build(tmp_path, fmt, specials=None):
    tok = AutoTokenizer.from_pretrained(resolve_model("tiny-0.3m"))
    extra, template = SPECIALS[fmt] if specials is None else specials
    tok.add_tokens(extra, special_tokens=True)
    if template:
        tok.chat_template = template
    torch.manual_seed(0)
    common = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id)
    if fmt == "qwen":
        model = Qwen2ForTokenClassification(Qwen2Config(**common, num_labels=2))
    elif fmt == "value_head":  # a Llama body: a Qwen2 config would make AutoTokenizer re-read our char vocab as BPE
        model = LlamaForTokenClassification(LlamaConfig(**common, num_labels=1))
    elif fmt == "math_shepherd":
        model = MistralForCausalLM(MistralConfig(**common))
    else:
        model = LlamaForCausalLM(LlamaConfig(**common))
    path = tmp_path / fmt
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, model.eval()


@pytest.mark.parametrize("fmt", ["qwen", "math_shepherd", "rlhflow", "value_head"])
def test_scores_are_read_where_each_format_puts_them(tmp_path, fmt):
    path, model = _build(tmp_path, fmt)
    prm = ProcessRewardModel(str(path), FORMATS[fmt](), step_split="\n\n", aggregate="min", batch_size=2)
    steps = prm.steps(SOLUTION)
    assert steps == ["Step 1: 3+4=7", "Step 2: 7*2=14", "The answer is 14"]
    ids, marks = prm.encode(PROMPT, SOLUTION)
    assert len(marks) == 3 and marks == sorted(marks)
    tok = prm.tokenizer
    for step, m in zip(steps, marks):
        if fmt == "rlhflow":  # the logits at m predict the assistant's "+" that follows
            assert ids[m + 1] == tok.convert_tokens_to_ids("+") and _bare(tok.decode(ids[:m + 1])).endswith("<|end_header_id|>")
            assert _bare(step) in _bare(tok.decode(ids[:m]))
        else:
            assert ids[m] == prm.tokens.tag and _bare(tok.decode(ids[:m])).endswith(_bare(step))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    at = logits[marks]
    if fmt == "qwen":
        want = at.softmax(-1)[:, 1]
    elif fmt == "value_head":
        want = at[:, 0].sigmoid()
    else:
        plus, minus = tok.convert_tokens_to_ids("+"), tok.convert_tokens_to_ids("-")
        want = at[:, [plus, minus]].softmax(-1)[:, 0]
    short = "Step 1: 1+1=2\n\nThe answer is 2"
    [[v, w, u]] = prm.verify([PROMPT], [[SOLUTION, short, "no steps at all"]])  # batched with padding
    assert v.step_scores == pytest.approx(want.tolist(), abs=1e-5)
    assert v.score == pytest.approx(min(want.tolist()), abs=1e-5)
    assert len(w.step_scores) == 2 and len(u.step_scores) == 1  # no split: the whole solution is one step
    assert v.tokens == len(ids) and v.flops > 0


def test_bad_tokenizers_and_nan_scores_are_refused(tmp_path):
    path, _ = _build(tmp_path, "qwen", specials=(["<|im_start|>", "<|im_end|>"], QWEN_TEMPLATE))
    with pytest.raises(ConfigError, match="no single token for the qwen step tag '<extra_0>'"):
        ProcessRewardModel(str(path), QwenFormat())
    path, _ = _build(tmp_path, "rlhflow", specials=(["<|eot_id|>"], None))
    with pytest.raises(ConfigError, match="needs the tokenizer's chat template"):
        ProcessRewardModel(str(path), RLHFlowFormat())
    with pytest.raises(ConfigError, match="verifier.format='orm' is not a PRM format adapter"):
        ProcessRewardModel(str(path), "orm")
    path, model = _build(tmp_path, "math_shepherd")
    prm = ProcessRewardModel(str(path), MathShepherdFormat())
    with torch.no_grad():
        for p in prm.model.parameters():
            p.fill_(float("nan"))
    with pytest.raises(ConfigError, match="NaN step score"):
        prm.verify([PROMPT], [[SOLUTION]])
