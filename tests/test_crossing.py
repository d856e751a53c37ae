"""The crossing rule on fabricated paired rows (figures/crossing.py)."""

from icl_ood.figures.crossing import Crossing, crossing, over_seeds


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


def test_a_power_law_is_fitted_only_where_every_seed_crossed_at_three_values():
    """fit_law recovers the exponent of crossings that follow one (with seed scatter), gives its
    interval over seeds and residuals, and refuses where it cannot hold."""
    import math

    import numpy as np

    from icl_ood.figures.crossing import fit_law
    rng = np.random.default_rng(0)
    pts = {x: [5000 * x ** -0.5 * math.exp(0.05 * rng.normal()) for _ in range(4)]
           for x in (1e-3, 3e-3, 1e-2, 3e-2)}
    law = fit_law(pts)
    assert law.why is None and abs(law.slope + 0.5) < 0.05
    assert law.slope_ci[0] < law.slope < law.slope_ci[1] < law.slope_ci[0] + 0.1
    assert len(law.residuals) == 16
    assert max(map(abs, law.residuals)) < 0.1 and f"lr^{law.slope:.2f}" in law.describe("lr", "steps")
    two = {x: v for x, v in list(pts.items())[:2]}
    assert "at least 3" in fit_law(two).why
    pts[1e-2][1] = float("nan")  # one seed did not cross
    assert fit_law(pts).why == "not every seed crossed at every value"
    assert fit_law(pts).describe("lr", "steps").startswith("no law fitted")


def test_training_compute_per_step_in_examples_and_flops():
    from icl_ood import presets
    from icl_ood.config import flops_per_step
    from icl_ood.figures.crossing import per_step
    cfg = presets.get("demo")
    u = per_step(cfg.to_dict())
    assert u == {"steps": 1.0, "examples": cfg.train.batch_size, "FLOPs": flops_per_step(cfg)}


def test_a_crossing_that_goes_below_again_says_so():
    c = crossing(rows({100: (-0.05, -0.08, -0.02), 200: (0.04, 0.02, 0.06),
                       400: (0.00, -0.02, 0.02), 800: (-0.03, -0.05, -0.01)}), "a=0.5", 10)
    assert c == Crossing("crossed", 100, 200, 800, 800)
    assert c.describe() == "crossed between steps 100 and 200, below again at 800"


def test_the_crossing_figure_is_drawn_against_examples_seen_when_the_grid_varies_the_batch(
        tmp_path, monkeypatch):
    from icl_ood.config import Config
    from icl_ood.figures import crossing as cr
    from icl_ood.figures import style
    drawn = []
    monkeypatch.setattr(style, "_save", lambda fig, out, name: drawn.append(fig) or [])
    gaps = {100: (0.2, 0.1, 0.3), 200: (-0.05, -0.08, -0.02)}

    def run(name, batch):
        cfg = Config().to_dict()
        cfg["train"]["batch_size"] = batch
        return {"name": name, "config": cfg, "along": {"convex": rows(gaps)}}

    for batches, label, want in (((32, 128), "examples seen (step × batch size)",
                                  {3200, 6400, 12800, 25600}),
                                 ((64, 64), "training step", {100, 200})):
        tasks = [{"name": f"b{b}", "runs": [f"b{b}.{i}"]} for i, b in enumerate(batches)]
        data = {"request": {"experiment": "compute", "study": {"tasks": tasks}},
                "runs": [run(f"b{b}.{i}", b) for i, b in enumerate(batches)]}
        drawn.clear()
        cr.fig_crossing(data, tmp_path)
        ax = drawn[0].axes[0]
        assert ax.get_xlabel() == label
        xs = {float(x) for line in ax.get_lines() for x in line.get_xdata()} - {0.0, 1.0}
        assert xs == want, xs  # (0 and 1: the zero line's axes coordinates)
