"""The arithmetic world's generator, extractor and grader, and the JSONL task on real GSM8K data."""

import json
from pathlib import Path

import pytest

from ttc.contracts.errors import ConfigError
from ttc.tasks import arith
from ttc.tasks.arith_corpus import corrupt, example
from ttc.tasks.arith_task import ArithTask
from ttc.tasks.jsonl_task import JsonlTask

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"


def test_problems_are_deterministic_and_levels_grow():
    assert arith.make_problem("test", 3, 5) == arith.make_problem("test", 3, 5)
    steps = [len(arith.make_problem("test", lv, 0).events) for lv in arith.LEVELS]
    assert steps == [arith.STEPS[lv] for lv in arith.LEVELS] and steps == sorted(steps)


def test_train_and_test_are_disjoint_as_computations():
    train = {(p.start, p.events) for p in (arith.make_problem("train", 1 + i % 5, i) for i in range(5000))}
    test = [arith.make_problem("test", lv, i) for lv in arith.LEVELS for i in range(100)]
    assert not any((p.start, p.events) in train for p in test)
    assert all(arith.split_of(p.start, p.events) == "test" for p in test)


def test_reference_solution_extracts_grades_and_checks_stepwise():
    for lv in arith.LEVELS:
        p = arith.make_problem("test", lv, 1)
        text = arith.solution_text(p.steps())
        assert arith.grade(arith.extract_answer(text), str(p.answer))
        assert arith.first_wrong_step(p, text) is None
        import random
        bad = arith.solution_text(corrupt(p, random.Random(0), at=len(p.events) - 1))
        assert arith.first_wrong_step(p, bad) == len(p.events)
        assert not arith.grade(arith.extract_answer(bad), str(p.answer))
    assert arith.extract_answer("<think>\nAnswer: 3\n</think>\nAnswer: 4\n") == "4"
    assert arith.extract_answer("1. 2+2=4\n") is None


def test_every_plan_is_a_right_solution_and_the_step_check_is_order_free():
    import random
    p = arith.make_problem("test", 5, 2)  # 7 events, gains and losses
    orders = {tuple((s.op, s.right) for s in p.steps(plan)) for plan in arith.PLANS}
    assert len(orders) == len(arith.PLANS) == 2
    for plan in arith.PLANS:
        steps = p.steps(plan)
        assert sorted((s.op, s.right) for s in steps) == sorted(p.events)
        assert steps[-1].result == p.answer and all(s.left >= 0 and s.result >= 0 for s in steps)
        text = arith.solution_text(steps)
        assert arith.first_wrong_step(p, text) is None
        for at in (0, 4):
            assert arith.first_wrong_step(p, arith.solution_text(corrupt(p, random.Random(at), at=at, plan=plan))) == at + 1
    # an event applied twice (and so another never) is wrong at the repeat; a dropped event at the end
    s = p.steps("as_told")
    twice = [s[0], arith.Step(s[0].result, s[0].op, s[0].right, s[0].result + (s[0].right if s[0].op == "+" else -s[0].right))]
    assert arith.first_wrong_step(p, arith.solution_text(twice)) == 2
    assert arith.first_wrong_step(p, arith.solution_text(s[:-1])) == len(s)
    for q in (arith.make_problem("test", lv, i) for lv in arith.LEVELS for i in range(100)):
        for plan in arith.PLANS:  # the world only draws problems that every plan solves without going negative
            assert all(step.result >= 0 for step in q.steps(plan)) and q.steps(plan)[-1].result == q.answer
    with pytest.raises(ValueError, match="plan='sideways'"):
        p.steps("sideways")


def test_corpus_draws_every_plan_about_equally():
    import random
    from collections import Counter

    from ttc.tasks.arith_corpus import solve_example

    p = arith.make_problem("train", 5, 7)
    by_text = {arith.solution_text(p.steps(plan)): plan for plan in arith.PLANS}
    assert len(by_text) == len(arith.PLANS)
    counts = Counter(by_text[solve_example(p, random.Random(i))[1][0]] for i in range(600))
    assert set(counts) == set(arith.PLANS) and min(counts.values()) > 240, counts


def test_corpus_teaches_every_format_and_masks_shown_mistakes():
    texts = ["".join(s for s, _ in example(i, 0)) for i in range(400)]
    for marker in ("\nA:\n1. ", "<think>", "Wait, check", "Check", "Previous attempt:", "Corrected attempt:"):
        assert any(marker in t for t in texts), marker
    for i in range(400):
        for seg, trainable in example(i, 0):
            if trainable and seg.startswith(tuple("123456789")) and "=" in seg and not seg.startswith("Wait"):
                for step in arith.parse_steps(seg):
                    assert step.result == step.correct_result  # the model is only ever taught right arithmetic


def test_arith_task_slices_and_validates():
    task = ArithTask(levels=[2, 4], per_level=3)
    probs = task.problems()
    assert [p.difficulty for p in probs] == [2, 2, 2, 4, 4, 4]
    assert probs[0].public().reference == "" and probs[0].reference != ""
    with pytest.raises(ConfigError, match="task.levels contains 9"):
        ArithTask(levels=[9])


def test_jsonl_task_loads_gsm8k_and_grades_its_gold_answers():
    task = JsonlTask(str(GSM8K), reference_pattern=r"####\s*(.+)")
    probs = task.problems()
    assert len(probs) == 1319
    for p in probs[:50]:
        gold = p.reference
        assert task.grade(task.extract(f"so it is {gold}.\nAnswer: {gold}"), p)
        assert not task.grade(task.extract("Answer: 123456789"), p)


def test_gsm8k_gold_answers_extract_and_grade_and_prompts_are_standard(tmp_path):
    from ttc.tasks.gsm8k import GSM8KTask, extract

    task = GSM8KTask(path=str(GSM8K))
    probs = task.problems()
    assert len(probs) == 1319
    raw = [json.loads(x)["answer"] for x in GSM8K.read_text().splitlines()]
    assert sum(task.grade(task.extract(r), p) for r, p in zip(raw, probs)) == 1319  # gold "#### N" lines
    assert sum(task.grade(task.extract(f"So it is {p.reference}. The answer is {p.reference}."), p)
               for p in probs) == 1319
    assert probs[0].prompt.count("The answer is") == 8 and probs[0].prompt.endswith("\nA:")
    assert extract("x = \\boxed{1,234}") == "1234" and extract("The answer is $18.00.") == "18"
    assert extract("no numbers") is None and extract("I got 3 then 4") == "4"
    assert not task.grade("17", probs[0]) or probs[0].reference == "17"
    with pytest.raises(ConfigError, match="task.mode=chat needs task.chat_tokenizer"):
        GSM8KTask(path=str(GSM8K), mode="chat")


def test_gsm8k_chat_mode_uses_the_tokenizers_template(tmp_path):
    from transformers import AutoTokenizer

    from ttc.generators.models import resolve_model
    from ttc.tasks.gsm8k import GSM8KTask

    tok = AutoTokenizer.from_pretrained(resolve_model("tiny-0.3m"))
    tok.chat_template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}<|assistant|>"
    tok.save_pretrained(tmp_path / "tok")
    task = GSM8KTask(path=str(GSM8K), mode="chat", chat_tokenizer=str(tmp_path / "tok"), limit=3)
    p = task.problems()[0]
    assert p.prompt.startswith("<|user|>Solve the following") and p.prompt.endswith("<|assistant|>")
    assert "Janet" in p.prompt


def test_math500_gold_answers_are_equivalent_to_themselves_and_wrong_pairs_fail():
    from ttc.tasks.math500 import Math500Task, equivalent, last_boxed

    task = Math500Task(path=str(GSM8K.parents[1] / "math500" / "test.jsonl"))
    probs = task.problems()
    assert len(probs) == 500 and task.grader_version.startswith("math-verify-0.9")
    assert sum(task.grade(task.extract(f"so \\boxed{{{p.reference}}}."), p) for p in probs) == 500
    assert {p.difficulty for p in probs} == {1, 2, 3, 4, 5}
    assert equivalent("\\frac{1}{2}", "0.5") and equivalent("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)")
    for a, b in [("3", "4"), ("x+1", "x+2"), ("(1,2)", "(2,1)"), ("\\sqrt{2}", "1.41"), ("2\\pi", "\\pi")]:
        assert not equivalent(a, b), (a, b)
    assert last_boxed("a \\boxed{1} b \\boxed{\\frac{a}{b}} c") == "\\frac{a}{b}" and last_boxed("none") is None


def test_hub_loading_fails_fast_and_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    from ttc.tasks.gsm8k import GSM8K_REVISION, GSM8KTask
    from ttc.tasks.math500 import MATH500_REVISION, Math500Task

    with pytest.raises(ConfigError, match=f"cannot load openai/gsm8k@{GSM8K_REVISION} from the hub"):
        GSM8KTask()
    with pytest.raises(ConfigError, match=f"cannot load HuggingFaceH4/MATH-500@{MATH500_REVISION}"):
        Math500Task()


GSM8K_OUTPUTS = [  # realistic completions (shapes seen from instruction models) and the answer they give
    ("It was 5 degrees and fell 8, so 5 - 8 = −3. The answer is −3.", "-3"),  # Unicode minus (U+2212)
    ("The final answer is –12.", "-12"),  # an en dash written as a minus sign
    ("She pays 3 * 4 = 12 for apples. The answer is 12 + 6 = 18.", "18"),  # a calculation after "answer is"
    ("The answer is 2 * 3 + 1 = 7 dollars.", "7"),
    ("So Janet makes 16 - 3 - 4 = 9 eggs * $2 = $18 every day (that is $126 a week).", "18"),  # an aside last
    ("He has 40 marbles left (he gave 10 of the 50 away).", "40"),
    ("The answer is 1,234.50.", "1234.5"),
    ("21 - 15 = 6 trees were planted", "6"),  # a subtraction is not a negative number
    ("The answer is: 42", "42"),
]


@pytest.mark.parametrize("text,answer", GSM8K_OUTPUTS)
def test_gsm8k_extraction_of_realistic_outputs(text, answer):
    from ttc.tasks.gsm8k import extract

    assert extract(text) == answer


MATH_OUTPUTS = [  # right answers written with the decorations MATH references omit (or carry)
    ("25\\%", "25"), ("25", "25\\%"), ("50%", "50"), ("10\\text{ inches}", "10"), ("\\text{6 inches}", "6"),
    ("18.90 dollars", "18.90"), ("90^\\circ", "90"), ("12 \\text{ ways}", "12"), ("\\$1,000", "1000"),
    ("x = \\frac12", "\\frac{1}{2}"),
]


def test_math_grading_accepts_decorated_right_answers_and_no_new_false_matches():
    from ttc.tasks.math500 import _verify, equivalent

    for answer, reference in MATH_OUTPUTS:
        assert equivalent(answer, reference), (answer, reference)
    for a, b in [("25\\%", "0.25"), ("\\left(1,2\\right)", "\\left(1,3\\right)"), ("\\text{Monday}", "\\text{May}"),
                 ("10\\text{ cm}", "100"), ("5 \\text{ feet}", "5 \\text{ inches} + 1")]:
        assert not equivalent(a, b), (a, b)
    refs = [json.loads(line)["answer"] for line in open(GSM8K.parents[1] / "math500" / "test.jsonl")][:250]
    pairs = list(zip(refs, refs[1:]))  # neighbouring references: different problems, mostly different answers
    assert sum(equivalent(a, b) for a, b in pairs) == sum(_verify(a, b) for a, b in pairs)
