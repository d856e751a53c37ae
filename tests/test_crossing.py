"""The crossing rule on fabricated paired rows (report/crossing.py)."""

from icl_ood.report.crossing import Crossing, crossing, over_seeds


def rows(gaps: dict[int, tuple[float, float, float]], task="a=0.5", k=10) -> dict:
    return {s: [{"task": task, "k": k, "predictor": "model", "gap_bayes_mixture": g,
                 "gap_bayes_mixture_lower": lo, "gap_bayes_mixture_upper": hi},
                {"task": task, "k": k, "predictor": "bayes_mixture", "gap_bayes_mixture": None}]
            for s, (g, lo, hi) in gaps.items()}


def test_a_model_below_then_above_crosses_between_the_last_below_and_first_above_step():
    c = crossing(rows({100: (0.2, 0.1, 0.3), 200: (-0.05, -0.08, -0.02),
                       400: (-0.03, -0.06, -0.01), 800: (0.01, -0.01, 0.03),
                       1600: (0.04, 0.02, 0.06), 3200: (0.05, 0.03, 0.07)}), "a=0.5", 10)
    assert c == Crossing("crossed", 400, 1600, 3200)
    assert abs(c.step - 800.0) < 1e-9 and "between steps 400 and 1600" in c.describe()


def test_never_below_and_stays_below_are_not_crossings():
    never = crossing(rows({100: (0.2, 0.1, 0.3), 200: (0.1, 0.05, 0.2)}), "a=0.5", 10)
    assert never.kind == "never below" and never.last == 200
    stays = crossing(rows({100: (0.2, 0.1, 0.3), 200: (-0.1, -0.2, -0.05),
                           400: (0.01, -0.02, 0.04)}), "a=0.5", 10)
    assert stays == Crossing("stays below", 200, None, 400)


def test_an_interval_containing_zero_is_neither_below_nor_above():
    # the point estimates go below and then above 0, but every interval contains 0
    c = crossing(rows({100: (-0.01, -0.03, 0.01), 200: (0.01, -0.01, 0.03)}), "a=0.5", 10)
    assert c.kind == "never below"
    # above after an undecided step only: below must be decided first
    c = crossing(rows({100: (-0.01, -0.03, 0.01), 200: (0.05, 0.02, 0.08)}), "a=0.5", 10)
    assert c.kind == "never below"
    assert crossing(rows({}), "a=0.5", 10).kind == "no rows"
    assert crossing(rows({100: (0.1, 0.0, 0.2)}, task="a=0"), "a=0.5", 10).kind == "no rows"


def test_over_seeds_states_median_and_range_or_how_many_crossed():
    a, b = Crossing("crossed", 100, 400, 800), Crossing("crossed", 400, 1600, 3200)
    assert over_seeds([a, b]) == "median 500 [200, 800] over 2 seeds"
    assert over_seeds([a, Crossing("never below", last=800)]).startswith("1 of 2 seeds crossed")
    assert over_seeds([Crossing("stays below", 100, None, 800)]).startswith("none of 1")
