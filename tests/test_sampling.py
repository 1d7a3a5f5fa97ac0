"""Truncation adapters and the seeded sampler, on hand-made logits."""

import math

import pytest
import torch

from ttc.contracts.records import SamplingParams
from ttc.generators.hf.sampling import choose, truncate, uniforms

LOGITS = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))


def kept(params):
    return (truncate(LOGITS, params) > -1e30)[0].tolist()


def test_each_adapter_keeps_exactly_the_tokens_it_should():
    assert kept(SamplingParams(top_k=2)) == [True, True, False, False, False]
    assert kept(SamplingParams(top_p=0.7)) == [True, True, False, False, False]  # 0.5 < 0.7 <= 0.7
    assert kept(SamplingParams(top_p=0.71)) == [True, True, True, False, False]
    assert kept(SamplingParams(min_p=0.3)) == [True, True, True, False, False]  # >= 0.15
    assert kept(SamplingParams(epsilon=0.12)) == [True, True, True, False, False]
    assert kept(SamplingParams(epsilon=0.9)) == [True, False, False, False, False]  # top token survives


def test_adapters_compose_on_the_renormalised_distribution():
    # after top_k=3 the mass is 0.5/0.85, 0.2/0.85, 0.15/0.85; top_p=0.8 then needs the second token only
    assert kept(SamplingParams(top_k=3, top_p=0.8)) == [True, True, False, False, False]


def test_sampler_draws_from_the_truncated_tempered_distribution():
    params = SamplingParams(temperature=0.5, top_k=3)
    rows = 20000
    seeds = torch.arange(rows, dtype=torch.int64) * 7919 + 3
    picks = choose(LOGITS.expand(rows, -1), params, seeds, step=0)
    freq = torch.bincount(picks, minlength=5).double() / rows
    p = torch.tensor([0.5, 0.2, 0.15]) ** 2  # temperature 0.5 squares the probabilities
    p = p / p.sum()
    assert freq[3:].sum() == 0
    for i in range(3):
        assert abs(freq[i] - p[i]) < 4 * math.sqrt(p[i] * (1 - p[i]) / rows)


def test_uniforms_depend_only_on_seed_step_and_token():
    a = uniforms(torch.tensor([5, 9]), 3, 11)
    b = uniforms(torch.tensor([9]), 3, 11)
    assert torch.equal(a[1], b[0])
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(uniforms(torch.tensor([5]), 4, 11)[0], a[0])
    assert 0 < a.min() and a.max() < 1


def test_greedy_is_argmax():
    assert choose(LOGITS, SamplingParams(temperature=0), torch.tensor([1]), 0).item() == 0


@pytest.mark.parametrize("field,value", [("temperature", -1), ("top_p", 0), ("min_p", 1), ("max_tokens", 0)])
def test_out_of_range_sampling_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        SamplingParams(**{field: value})
