"""The HF generator on a real tiny model: seeds, shared prefill, stops, lengths, scoring, beam search."""

import pytest

from ttc.contracts.records import SamplingParams

SAMPLE = SamplingParams(temperature=1.0, max_tokens=60)


def test_same_seed_gives_same_text_whatever_the_batch(small, arith_prompts):
    together = small.generate(arith_prompts, SAMPLE, [[11, 12, 13]] * len(arith_prompts))
    alone = small.generate([arith_prompts[3]], SAMPLE, [[13, 11]])
    assert alone[0][0].text == together[3][2].text
    assert alone[0][1].text == together[3][0].text
    assert alone[0][0].token_logprobs == together[3][2].token_logprobs or all(
        abs(a - b) < 1e-4 for a, b in zip(alone[0][0].token_logprobs, together[3][2].token_logprobs))
    texts = {c.text for c in small.generate([arith_prompts[5]], SAMPLE, [list(range(16))])[0]}
    assert len(texts) > 1  # different seeds really sample


def test_prompt_is_prefilled_once_and_shared_by_its_samples(small, arith_prompts):
    comps = small.generate(arith_prompts[:2], SAMPLE, [[1, 2, 3, 4], [5]])
    plen = len(small.encode(arith_prompts[0]))
    assert [c.cached_tokens for c in comps[0]] == [0, plen, plen, plen]
    assert all(c.prompt_tokens == plen for c in comps[0])
    assert comps[0][0].prompt_flops == small.card.span_flops(0, plen, logits=1)
    assert all(c.prompt_flops == 0 for c in comps[0][1:])
    for c in comps[0] + comps[1]:
        assert len(c.token_logprobs) == c.generated_tokens
        steps = c.generated_tokens - 1  # the last token is sampled, never fed back
        assert c.flops == c.prompt_flops + small.card.span_flops(c.prompt_tokens, steps, logits=steps)


def test_greedy_matches_top_k_1_and_its_logprob_matches_scoring(small, arith_prompts):
    greedy = small.generate(arith_prompts, SamplingParams(temperature=0, max_tokens=80), [[0]] * 6)
    topk1 = small.generate(arith_prompts, SamplingParams(temperature=1, top_k=1, max_tokens=80), [[9]] * 6)
    assert [g[0].text for g in greedy] == [t[0].text for t in topk1]
    scored = small.score(arith_prompts, [g[0].text + "\n" * 0 for g in greedy])
    for g, s in zip(greedy, scored):
        body = g[0].token_logprobs[:-1] if g[0].finish_reason == "stop" else g[0].token_logprobs
        assert abs(sum(body) - s.logprob) < 1e-3


def test_stop_strings_and_max_tokens(small, arith_prompts):
    cut = small.generate(arith_prompts[4:], SamplingParams(temperature=0, max_tokens=80, stop=("2.",)), [[0]] * 2)
    for c in (x[0] for x in cut):
        assert c.finish_reason == "stop" and "2." not in c.text and c.text.startswith("1. ")
    short = small.generate(arith_prompts, SamplingParams(temperature=1, max_tokens=5), [[1, 2]] * 6)
    for c in (x for row in short for x in row):
        assert c.generated_tokens <= 5
        assert c.finish_reason == "length" or c.generated_tokens < 5


def test_beam_search_returns_width_beams_best_first(small, arith_prompts):
    beams = small.beam_search(arith_prompts[:3], width=3, max_tokens=80, length_penalty=1.0)
    assert [len(b) for b in beams] == [3, 3, 3]
    for b in beams:
        normalised = [c.logprob / max(len(c.token_logprobs), 1) for c in b]
        assert normalised == sorted(normalised, reverse=True)
        assert all(c.prompt_tokens == b[0].prompt_tokens and c.cached_tokens == 0 for c in b)


def test_hub_ids_need_a_pinned_revision_and_fail_fast_offline(monkeypatch):
    from ttc.contracts.errors import ConfigError
    from ttc.generators.hf import HFGenerator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="as a hub id it needs generator.revision=COMMIT"):
        HFGenerator("meta-llama/Llama-3.2-1B-Instruct")
    with pytest.raises(ConfigError, match=r"generator.model=meta-llama/Llama-3.2-1B-Instruct@0123abc: cannot load"):
        HFGenerator("meta-llama/Llama-3.2-1B-Instruct", revision="0123abc")
    with pytest.raises(ConfigError, match="/no/such/dir is neither a known model .* nor an existing directory$"):
        HFGenerator("/no/such/dir")


def test_branches_read_the_prompt_once_and_agree_with_scoring(small, arith_prompts):
    options = [" yes", " no", "\nAnswer: 12"]  # different lengths, several tokens each (char-level tokenizer)
    branched = small.score_branches(arith_prompts, options)
    plain = small.score([p for p in arith_prompts for _ in options], options * len(arith_prompts))
    for i, prompt in enumerate(arith_prompts):
        row, want = branched[i], plain[i * len(options):(i + 1) * len(options)]
        assert [s.logprob for s in row] == pytest.approx([s.logprob for s in want], abs=1e-4)
        assert [len(s.token_logprobs) for s in row] == [len(small.encode(o, special=False)) for o in options]
        plen = len(small.encode(prompt))
        assert sum(s.tokens for s in row) == plen + sum(len(small.encode(o, special=False)) for o in options)
        assert sum(s.flops for s in row) < sum(s.flops for s in want) / 2  # the prompt once, not three times


def test_scoring_chunks_are_bounded_by_tokens_and_give_the_same_scores(small):
    from ttc.generators.hf import token_chunks

    assert token_chunks([10, 10, 10, 30, 5], max_rows=8, max_tokens=40) == [(0, 3), (3, 4), (4, 5)]
    assert token_chunks([100], max_rows=8, max_tokens=10) == [(0, 1)]  # one item alone may exceed the budget
    assert token_chunks([1] * 10, max_rows=4, max_tokens=1000) == [(0, 4), (4, 8), (8, 10)]
    prompts = [f"Q: Ann has {i} apples.\nA:\n" for i in range(12)]
    conts = ["1. " + "2+2=4\n" * (1 + i % 4) for i in range(12)]
    wide = small.score(prompts, conts)
    budget, small.max_tokens = small.max_tokens, 64  # a few rows per forward
    try:
        narrow = small.score(prompts, conts)
        branched = small.score_branches(prompts, [" yes", " no"])
    finally:
        small.max_tokens = budget
    assert [a.logprob for a in wide] == pytest.approx([b.logprob for b in narrow], abs=1e-4)
    assert [a.tokens for a in wide] == [b.tokens for b in narrow]
    whole = small.score_branches(prompts, [" yes", " no"])
    assert [x.logprob for row in branched for x in row] == pytest.approx([x.logprob for row in whole for x in row],
                                                                         abs=1e-4)


def test_stop_checks_skip_decoding_only_where_no_stop_can_complete(small):
    """The skip (`_may_complete`) never changes a verdict: every prefix of real generated token sequences gets
    the answer of decoding the tail each step up to where that first finds a stop (where a sample ends), for
    newline, colon, space-ended and multi-character stops."""
    import random

    rng = random.Random(0)
    vocab = len(small.tokenizer)
    seqs = [small.encode(t, special=False) for t in ("1. 3+4=7\n2. 7-2=5\nAnswer: 5\nQ: next", "Q: what is 2+2?\nA: 4 ")]
    seqs += [[rng.randrange(vocab) for _ in range(40)] for _ in range(20)]
    for stops in (("\n",), ("Q:",), ("Answer: ",), ("\n\n", "=5")):
        for seq in seqs:
            for k in range(1, len(seq) + 1):
                tail = small.tokenizer.decode(seq[:k][-(max(len(s) for s in stops) + 2):])
                want = any(s in tail for s in stops)
                assert small.hit_stop(seq[:k], stops) == want, (stops, seq[:k])
                if want:
                    break


def test_generation_chunks_are_balanced_and_change_no_text(small, arith_prompts, monkeypatch):
    prompts = (arith_prompts * 2)[:7]
    whole = small.generate(prompts, SAMPLE, [[3]] * 7)
    sizes = []
    chunk = small._generate_chunk
    monkeypatch.setattr(small, "max_rows", 6)
    monkeypatch.setattr(small, "_generate_chunk", lambda enc, *a: sizes.append(len(enc)) or chunk(enc, *a))
    split = small.generate(prompts, SAMPLE, [[3]] * 7)
    assert sizes == [4, 3]  # 7 rows under a limit of 6: two chunks of about half, not 6 + 1
    assert [r[0].text for r in split] == [r[0].text for r in whole]
