"""Progress inside a batch: the bar moves call by call once a batch's call count is known, never past the
batch before it ends, and the wrapped generator answers every capability check as the generator does."""

import inspect

from ttc.contracts import protocols
from ttc.contracts.records import SamplingParams
from ttc.harness.progress import CallProgress


class Bar:
    """The part of a tqdm bar CallProgress uses, recording every position it is set to."""

    def __init__(self):
        self.n, self.seen = 0.0, []

    def refresh(self):
        self.seen.append(round(self.n, 4))


def test_the_bar_moves_within_a_batch_by_calls_made_over_calls_expected(small):
    bar, params = Bar(), SamplingParams(temperature=0.0, max_tokens=2)
    g = CallProgress(small, bar)
    g.begin(0, 4)
    for _ in range(3):
        out = g.generate(["1+1="], params, [[0]])
    assert out[0][0].text == small.generate(["1+1="], params, [[0]])[0][0].text  # forwarded unchanged
    assert bar.seen == []  # first batch: no estimate yet, so the bar waits for the batch's end
    g.end(4)
    g.begin(4, 4)
    for _ in range(4):
        g.generate(["1+1="], params, [[0]])
    g.end(8)
    assert bar.seen == [4.0, 5.3333, 6.6667, 7.8, 8.0]  # 1/3, 2/3, then capped at 95% of the batch


def test_the_wrapper_keeps_every_capability_of_the_generator(small):
    g = CallProgress(small, Bar())
    kinds = [p for _, p in inspect.getmembers(protocols, inspect.isclass)
             if getattr(p, "_is_runtime_protocol", False)]
    assert len(kinds) >= 10
    for kind in kinds:
        assert isinstance(g, kind) == isinstance(small, kind), kind.__name__
    assert g.name == small.name and g.card == small.card


def test_capabilities_are_instance_attributes_so_any_python_sees_them(small):
    g = CallProgress(small, Bar())
    for name in ("score", "score_branches", "card", "name", "encode"):
        assert inspect.getattr_static(g, name) is not None
    import copy

    copy.copy(g)  # no recursion through __getattr__ before __init__
