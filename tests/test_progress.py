"""Progress inside a batch: the bar moves call by call once a batch's call count is known, never past the
batch before it ends, and the generator the hook watches stays itself (every capability check answers as for
the generator, and nothing of the hook is left on it afterwards)."""

import inspect

from ttc.contracts import protocols
from ttc.contracts.records import SamplingParams
from ttc.harness.progress import CallProgress


class Bar:
    """The part of a RunBar CallProgress uses, recording every position it is set to."""

    def __init__(self):
        self.n, self.seen, self.tokens = 0.0, [], 0

    def refresh(self):
        self.seen.append(round(self.n, 4))


class Untold:
    """A generator that does not report inside its calls (as vLLM or an API), forwarding to a real one."""

    def __init__(self, inner):
        self.inner = inner

    def generate(self, prompts, params, seeds):
        return self.inner.generate(prompts, params, seeds)


def test_the_bar_moves_within_a_batch_by_calls_made_over_calls_expected(small):
    bar, params = Bar(), SamplingParams(temperature=0.0, max_tokens=2)
    hook, g = CallProgress(bar, clock=lambda: 0.0), Untold(small)  # no time passes: 95% of a batch by its calls
    with hook.watch(g):
        hook.begin(0, 4)
        for _ in range(3):
            out = g.generate(["1+1="], params, [[0]])
        assert out[0][0].text == small.generate(["1+1="], params, [[0]])[0][0].text  # returned unchanged
        assert set(bar.seen) == {0.0}  # first batch: no estimate yet, so the bar waits for the batch's end (tokens show)
        hook.end(4)
        hook.begin(4, 4)
        for _ in range(4):
            g.generate(["1+1="], params, [[0]])
        hook.end(8)
    assert [x for i, x in enumerate(bar.seen) if x != bar.seen[i - 1] or i == 0][1:] == [4.0, 5.3333, 6.6667, 7.8, 8.0]
    assert bar.tokens == 7 * 2  # counted after each call: 7 calls of 2 tokens


def test_a_batch_reaches_by_its_calls_only_the_share_of_time_generation_took_before(small):
    """Earlier batches spent 1 s generating and 3 s verifying after their last call: a batch whose calls are all
    made stands at a quarter of itself, not 95%, so the ETA counts the verification still to come."""
    now = [0.0]
    bar, params = Bar(), SamplingParams(temperature=0.0, max_tokens=2)
    hook, g = CallProgress(bar, clock=lambda: now[0]), Untold(small)
    with hook.watch(g):
        for batch in range(2):
            hook.begin(4 * batch, 4)
            for _ in range(2):
                now[0] += 0.5
                g.generate(["1+1="], params, [[0]])
            if batch == 1:
                assert bar.n == 4 + 4 * 0.25
            now[0] += 3.0  # the verifier scores, then the grades
            hook.end(4 * (batch + 1))
    moves = [x for i, x in enumerate(bar.seen) if i == 0 or x != bar.seen[i - 1]]
    assert moves[-3:] == [4.5, 5.0, 8.0]


def test_a_reporting_generator_moves_the_bar_inside_its_one_call(small):
    """One call of 6 sequences of up to 40 tokens: the bar moves while it decodes (the first batch, no estimate
    from earlier batches), never backwards, never past 95% before the batch ends, and the tokens it was told are
    the tokens the completions hold."""
    bar = Bar()
    hook = CallProgress(bar)
    with hook.watch(small):
        hook.begin(0, 2)
        out = small.generate(["1+1=", "2+3="], SamplingParams(temperature=1.0, max_tokens=40), [[1, 2, 3], [4, 5, 6]])
        assert len(set(bar.seen)) >= 3 and bar.seen == sorted(bar.seen) and max(bar.seen) <= 0.95 * 2
        assert bar.tokens == sum(c.generated_tokens for row in out for c in row)
        hook.end(2)
    assert bar.n == 2.0


def test_a_file_gets_plain_lines_at_tenths_never_redraws(tmp_path):
    from ttc.harness.progress import RunBar

    path = tmp_path / "err.log"
    with open(path, "w") as fh:
        bar = RunBar(40, 0, "majority", file=fh)
        for i in range(1, 41):
            bar.n, bar.tokens = i / 2, i * 10  # 0.5 problems a step
            bar.refresh()
        bar.close()
    text = path.read_text()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 5 and all(x.startswith("majority: ") for x in lines)  # 10%, 20%, 30%, 40%, then 50% at close
    assert lines[0].startswith("majority: 4.0/40 problems (10%), 80 tokens") and " left" in lines[0]


def test_the_watched_generator_keeps_every_capability_and_is_left_as_it_was(small):
    """The strategy is handed the generator itself: while watched it answers every capability check as it does
    unwatched, its capabilities stay visible without __getattr__ (any Python), and afterwards it holds nothing
    of the hook (no wrapped generate, no listener)."""
    kinds = [p for _, p in inspect.getmembers(protocols, inspect.isclass)
             if getattr(p, "_is_runtime_protocol", False)]
    assert len(kinds) >= 10
    before, bar = {kind: isinstance(small, kind) for kind in kinds}, Bar()
    with CallProgress(bar).watch(small):
        for kind in kinds:
            assert isinstance(small, kind) == before[kind], kind.__name__
        for name in ("score", "score_branches", "card", "name", "encode"):
            assert inspect.getattr_static(small, name) is not None
    assert "generate" not in vars(small)
    small.generate(["1+1="], SamplingParams(temperature=1.0, max_tokens=20), [[1, 2]])
    assert bar.seen == [] and bar.tokens == 0  # neither its calls nor its reports reach the hook any more


def test_a_generator_that_cannot_be_watched_still_runs_and_the_batch_ends_move_the_bar(small):
    class Slotted:
        __slots__ = ("inner",)

        def __init__(self, inner):
            self.inner = inner

        def generate(self, prompts, params, seeds):
            return self.inner.generate(prompts, params, seeds)

    bar, g = Bar(), Slotted(small)
    hook = CallProgress(bar)
    with hook.watch(g):
        hook.begin(0, 2)
        g.generate(["1+1="], SamplingParams(temperature=0.0, max_tokens=2), [[0]])
        hook.end(2)
    assert bar.n == 2.0
