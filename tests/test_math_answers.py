"""Grading of realistic model outputs (issue 32, item 4): GSM8K answers written in words, LaTeX-wrapped GSM8K
answers, and MATH repeating decimals compared as exact fractions.

`*_READS` cases are graded right only because of the feature (each was graded wrong before it); `*_GUARDS`
cases held before and must still hold: digits win over words, near misses stay wrong.
"""

from fractions import Fraction

import pytest

from ttc.tasks.gsm8k import extract
from ttc.tasks.math500 import equivalent, last_boxed
from ttc.tasks.math_normalize import exact_repeating_decimals, repeating_decimal
from ttc.tasks.numeric import normalize, same_number, spelled_number

GSM8K_READS = [  # (completion, reference, whether a human grades it right)
    ("Let's think step by step. Janet's ducks lay 16 eggs a day. She eats three for breakfast and bakes muffins "
     "with four, which leaves nine eggs. She sells each egg for $2, so she earns nine times two dollars.\n\n"
     "The answer is eighteen.", "18", True),
    ("Maria starts with 40 apples. She gives 10 apples to her brother and 5 apples to her friend.\n"
     "So she has twenty-five apples left.", "25", True),
    ("Each ticket costs $15 and the family buys 8 tickets. Fifteen times eight is one hundred and twenty, so the "
     "total is one hundred and twenty dollars.", "120", True),
    ("The farm had 1,500 chickens and bought 800 more.\nSo the farm now has 1,500 + 800 chickens.\n"
     "The final answer is two thousand three hundred.", "2300", True),
    ("Tom bakes 36 cookies and shares them equally among his 3 friends. Each friend gets a dozen cookies.",
     "12", True),
    ("Natalia sold 48 clips in April and half as many in May, which is 24 clips.\n#### seventy-two", "72", True),
    ("Step 1: The pool holds 60 gallons.\nStep 2: It drains 15 gallons an hour.\n\\boxed{Four}", "4", True),
    ("Sam had 18 marbles and lost one of them on the way home. The answer is seventeen.", "18", False),
    # ProcessBench (Qwen2-7B/72B, Llama-3-8B): LaTeX math delimiters and \$ hid the stated answer
    ("So, the discounted rate per lesson = $80 - $20 = $60. Total earnings from these lessons = "
     "\\(2 \\times \\$60 = \\$120\\).\n\nFinally, add the earnings from both types of lessons: "
     "\\(\\$320 + \\$120 = \\$440\\). Thus, Charlie will make a total of \\(\\$440\\) for the day.", "440", True),
    ("Fourth, the total cost for all 5 baskets: Since there are 5 baskets, the total cost = "
     "\\(5 \\times \\$14.00 = \\$70.00\\).\n\nTherefore, Katherine will spend \\(\\boxed{\\$70.00}\\) filling all "
     "5 hanging baskets.", "70", True),
    ("Now, we multiply the daily food cost by the number of days in May: $3/day x 31 days = $93.\n\nSo, Jen "
     "spends $\\boxed{\\$93}$ on food for her 3 fish in the month of May.", "93", True),
]

GSM8K_GUARDS = [
    ("Jake had 30 marbles and won 15 more, so in total Jake has 45 marbles. That is one of the biggest "
     "collections in his class.", "45", True),  # a lone "one" is no answer
    ("There are 36 cookies for 3 friends, so 36 / 3 = 12. So 12 cookies go to each of the three friends.",
     "12", True),  # digits win within the last sentence
    ("There are 160 + 32 = 192 cows in eight stalls after Mr. Sylas adds four into each of the stalls.",
     "192", True),  # "Mr." ends no sentence (GSM8K train)
    ("She eats 3 eggs and bakes with 4, so 16 - 3 - 4 = 9 eggs are left. The answer is 9 (nine eggs).", "9", True),
    ("She pays 3 * 4 = 12 for apples. The answer is 12 + 6 = 18.", "18", True),
    ("Natalia sold 48 / 2 = 24 clips in May.\n#### 72", "72", True),
    ("So the total is \\boxed{1,234} dollars.", "1234", True),
    ("The answer is seventeen.", "18", False),
    ("She eats three and bakes with four.", "7", False),  # two numbers, not seven
]

MATH_READS = [  # (completion, reference, whether a human grades it right)
    ("Let $x = 0.\\overline{3}$. Then $10x = 3.\\overline{3}$, so $10x - x = 3$ and $x = \\frac{1}{3}$.\n\n"
     "Therefore, the final answer is $\\boxed{\\frac{1}{3}}$.", "0.\\overline{3}", True),
    ("We have $\\frac{5}{6} - \\frac{1}{2} = \\frac{5}{6} - \\frac{3}{6} = \\frac{2}{6} = \\frac{1}{3}$. As a "
     "decimal, this is $0.3333\\ldots$, so the answer is $\\boxed{0.\\overline{3}}$.", "\\frac{1}{3}", True),
    ("Dividing, $1 \\div 3 = 0.333\\ldots$ The answer is \\boxed{1/3}.", "0.\\overline{3}", True),
    ("Since $\\frac{1}{2} \\cdot \\frac{1}{3} = \\frac{1}{6}$, the probability is $\\boxed{\\dfrac{1}{6}}$.",
     "0.1\\overline{6}", True),
    ("Long division gives $1 \\div 6 = 0.1666\\ldots$, so the answer is $\\boxed{0.1\\overline{6}}$.",
     "\\frac{1}{6}", True),
    ("The digits 3 repeat forever, which we write as $0.(3)$.\n\nFinal answer: $\\boxed{0.(3)}$", "\\frac13", True),
    ("Let $x = 1.\\overline{27}$. Then $100x = 127.\\overline{27}$, so $99x = 126$ and $x = \\frac{126}{99} = "
     "\\frac{14}{11}$.\n\nThe answer is $\\boxed{\\frac{14}{11}}$.", "1.\\overline{27}", True),
    ("The sum is $0.\\overline{1} + 0.\\overline{2} = 0.\\overline{3}$, so the answer is "
     "$\\boxed{0.\\overline{33}}$.", "0.\\overline{3}", True),  # two repeating forms of one number
    ("So $x = -\\frac{2}{3}$, which is $\\boxed{-0.\\overline{6}}$.", "-\\frac{2}{3}", True),
    ("Rounding to one decimal place, the answer is $\\boxed{0.3}$.", "0.\\overline{3}", False),  # was graded right
]

MATH_GUARDS = [
    ("Since $1 \\div 3 \\approx 0.33$, the answer is $\\boxed{0.33}$.", "\\frac{1}{3}", False),
    ("We get $x = 0.\\overline{3}$, so the answer is $\\boxed{0.\\overline{3}}$.", "\\frac{1}{4}", False),
    ("So the answer is $\\boxed{0.\\overline{3}}$.", "0.33", False),
    ("Thus $\\frac{1}{6} = \\boxed{0.1\\overline{6}}$.", "\\frac{1}{5}", False),
    ("Dividing by 7 gives $\\boxed{0.\\overline{142857}}$.", "\\frac{1}{7}", True),
    ("The answer is $\\boxed{\\frac{1}{2}}$.", "0.5", True),
]


def _gsm8k_right(text: str, reference: str) -> bool:
    return same_number(extract(text), normalize(reference))


def _math_right(text: str, reference: str) -> bool:
    answer = last_boxed(text)
    return answer is not None and equivalent(answer, reference)


@pytest.mark.parametrize("text,reference,right", GSM8K_READS + GSM8K_GUARDS)
def test_gsm8k_grades_realistic_outputs_as_a_human_would(text, reference, right):
    assert _gsm8k_right(text, reference) is right, extract(text)


@pytest.mark.parametrize("text,reference,right", MATH_READS + MATH_GUARDS)
def test_math_grades_realistic_outputs_as_a_human_would(text, reference, right):
    assert _math_right(text, reference) is right, last_boxed(text)


def test_number_words_read_as_one_number_or_none():
    cases = {"eighteen": 18, "twenty-five": 25, "Ninety nine": 99, "one hundred and twenty-five": 125,
             "two thousand three hundred": 2300, "a hundred and five": 105, "a dozen": 12, "two dozen": 24,
             "one million two thousand": 1_002_000, "zero": 0}
    assert {phrase: spelled_number(phrase) for phrase in cases} == cases
    for phrase in ("three four", "six and seven", "five twenty", "thousand million", "one hundred hundred", "dozen"):
        assert spelled_number(phrase) is None, phrase


def test_repeating_decimals_become_exact_fractions_and_nothing_else_changes():
    assert repeating_decimal("0", "", "3") == repeating_decimal("", "", "33") == Fraction(1, 3)
    assert [repeating_decimal(*parts) for parts in (("0", "1", "6"), ("1", "", "27"), ("0", "0", "57"))] == [
        Fraction(1, 6), Fraction(14, 11), Fraction(19, 330)]
    assert exact_repeating_decimals("x = 0.\\overline{142857}") == "x = \\frac{1}{7}"
    assert exact_repeating_decimals(" -0.(3) ") == " -\\frac{1}{3}"
    assert exact_repeating_decimals("0.\\bar{9}") == "1"
    for unchanged in ("0.33", "\\overline{AB}", "2.5(3)+1", "(0.5, 3)", "\\frac{1}{3}"):
        assert exact_repeating_decimals(unchanged) == unchanged
