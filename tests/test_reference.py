"""Regression against the reference implementation's numbers (docs/theory.md §7, seeds 0, 1, 2).

Our seeds draw different initial weights from the reference's, so the test compares the mean of
our three seeds' crossing epochs against the reference's range over its three seeds, widened by
the tolerance the foundation issue states (3%), and each seed against twice that tolerance (our
seeds spread more than the reference's: contexts-4's ReLU crosses 0.1 at 2654-2758, one seed two
epochs inside the 3% window); ``loss_final`` of the different-structure task against the issue's
range. Measured margins (float32, float64, inits perturbed by 1e-6 -- crossing epochs did not
move): every mean at least 1.7% of the reference inside the 3% window, every seed 3% inside
the 6% one. Index convention: the reference stores index ``i`` after ``i + 1`` updates, ours
stores ``t`` after ``t`` updates; the one-epoch offset is far inside the tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from reln.experiment.config import load_config, with_overrides, with_values
from reln.experiment.experiments import run_experiment
from reln.identification.analysis import context_set_name

SEEDS = (0, 1, 2)
SEEDED = ("contexts-diff", "contexts-4")  # the presets whose seeded prediction is run (it costs a ReLU's training)

# (preset, model) -> reference ranges of epoch_below 0.5 and 0.1 (docs/theory.md §7).
REFERENCE = {
    ("contexts-diff", "relu"): ((835, 841), (2756, 2799)),
    ("contexts-diff", "paper_reln"): ((898, 900), (2830, 2840)),
    ("contexts-diff", "modular"): ((898, 901), (3588, 3622)),
    ("contexts-3", "relu"): ((992, 997), (3090, 3132)),
    ("contexts-3", "paper_reln"): ((1034, 1037), (2940, 2949)),
    ("contexts-4", "relu"): ((785, 788), (2645, 2680)),
    ("contexts-4", "paper_reln"): ((818, 820), (2452, 2488)),
    ("contexts-5", "relu"): ((648, 650), (2436, 2462)),
    ("contexts-5", "paper_reln"): ((676, 682), (2167, 2215)),
}
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def runs():
    """Each preset once, with the models the table needs."""
    cache = {}

    def get(preset):
        if preset not in cache:
            models = tuple(m for p, m in REFERENCE if p == preset) + ("reln", "theory", "prediction")
            models += ("prediction_seeded",) if preset in SEEDED else ()
            config = with_overrides(load_config(preset), seeds=SEEDS, models=models)
            cache[preset] = run_experiment(config).metrics
        return cache[preset]

    return get


@pytest.mark.parametrize(("preset", "model"), list(REFERENCE))
def test_crossing_epochs_match_reference(runs, preset, model):
    metrics = runs(preset)[model]
    for fraction, (low, high) in zip(("0.5", "0.1"), REFERENCE[preset, model]):
        epochs = metrics["epoch_below"][fraction]
        mean = float(np.mean(epochs))
        assert (1 - TOLERANCE) * low <= mean <= (1 + TOLERANCE) * high, (
            f"{preset} {model}: epoch_below[{fraction}] = {epochs} (mean {mean:.0f}), reference {low}-{high} ±3%"
        )
        assert all((1 - 2 * TOLERANCE) * low <= e <= (1 + 2 * TOLERANCE) * high for e in epochs), (
            f"{preset} {model}: epoch_below[{fraction}] = {epochs}, reference {low}-{high} ±6% for single seeds"
        )


def test_contexts_diff_relu_issue_ranges(runs):
    """The foundation issue's own windows for the different-structure ReLU run."""
    relu = runs("contexts-diff")["relu"]
    assert all(825 <= e <= 860 for e in relu["epoch_below"]["0.5"])
    assert all(2720 <= e <= 2840 for e in relu["epoch_below"]["0.1"])
    assert all(0.008 <= loss <= 0.05 for loss in relu["loss_final"])


def test_contexts_diff_plateaus_match_reference(runs):
    """Plateau levels are what the theory explains (docs/theory.md §7: ~72 / ~48 / ~23 at 400/1000/2000).

    The crossing epochs above already pin the timing; here the level of each plateau, read from
    the loss curves of every model, must fall in the reference's band.
    """
    import numpy as np

    config = with_overrides(load_config("contexts-diff"), seeds=(0,), epochs=2001, models=("relu", "paper_reln"))
    run = run_experiment(config)
    bands = {400: (70, 74.5), 1000: (46, 50), 2000: (21.5, 24.5)}
    for model, trajectory in run.trajectories.items():
        for epoch, (low, high) in bands.items():
            level = float(np.asarray(trajectory.loss)[0, epoch])
            assert low <= level <= high, f"{model} loss at epoch {epoch} is {level:.2f}"


def test_reln_singular_values_reach_least_squares(runs):
    """The always-on pathway of the staged ReLN converges to svd(Y X^+) (docs/theory.md §7)."""
    import numpy as np

    from reln.experiment.experiments import build_task

    config = with_overrides(load_config("contexts-diff"), seeds=(0,), models=("paper_reln",))
    run = run_experiment(config)
    task = build_task(config)
    expected = np.linalg.svd(task.Y @ np.linalg.pinv(task.X), compute_uv=False)[:10]
    common = run.trajectories["paper_reln"].singular_values[0, -1, 0, :10]
    np.testing.assert_allclose(common, expected, rtol=2e-3)


# The compact ReLN (16 phases of whole-context gates, closed units sliding on their kinks,
# docs/theory.md §5.3) against the same-seed ReLU. Measured over seeds 0-2 (max / mean):
# contexts-diff .014-.016 / .0025-.0034, contexts-3 .012-.014 / .0024-.0036, contexts-4 .015-.017 /
# .0013-.0023, contexts-5 .017-.018 / .0019-.0024: the compact-ReLN issue's bounds (.03 up to three
# contexts, .04 above; mean .006) with room for seed and machine spread.
COMPACT_MAX = {"contexts-diff": 0.03, "contexts-3": 0.03, "contexts-4": 0.04, "contexts-5": 0.04}
GAP_PRESETS = ("contexts-diff", "contexts-3", "contexts-4", "contexts-5")


@pytest.mark.parametrize("preset", GAP_PRESETS)
def test_compact_reln_reads_few_whole_context_phases(runs, preset):
    """Every preset and seed: at most 16 gate phases, none read per sample, and the theory reads no more."""
    metrics = runs(preset)
    for model in ("reln", "theory"):
        reads = metrics[model]["reads_from_relu"]
        assert reads["gate_phases"] <= 16 and reads["gate_level"] != "sample", (model, reads)
        assert reads["numbers"] <= 16 * 700 * metrics["task"]["contexts"] * len(SEEDS)


@pytest.mark.parametrize("preset", sorted(COMPACT_MAX))
def test_compact_reln_max_gap_to_relu(runs, preset):
    """The compact ReLN follows the ReLU far closer than the paper's hand-made ReLN (.07-.14)."""
    gaps = runs(preset)["reln"]["gap_to_relu"]["max"]
    assert max(gaps) <= COMPACT_MAX[preset], gaps


@pytest.mark.parametrize("preset", GAP_PRESETS)
def test_compact_reln_mean_gap_to_relu(runs, preset):
    gaps = runs(preset)["reln"]["gap_to_relu"]["mean"]
    assert max(gaps) <= 0.006, gaps


@pytest.mark.parametrize("preset", GAP_PRESETS)
def test_theory_of_the_compact_reln(runs, preset):
    """The balanced flow of the compact schedule (docs/theory.md §5.5): max gap .011-.021 over the four
    presets and seeds 0-2, final loss at most 2.2e-4 of L(0); the compact issue's bounds .04 / 1e-3.
    Its schedule reads as many bits as the compact ReLN's, at the threshold for free closed units."""
    metrics = runs(preset)
    theory = metrics["theory"]
    assert max(theory["gap_to_relu"]["max"]) <= 0.04
    assert max(theory["loss_final"]) <= 1e-3 * metrics["task"]["loss_initial"]


@pytest.mark.parametrize("preset", GAP_PRESETS)
def test_prediction_from_the_task_follows_the_relu(runs, preset):
    """The ReLN predicted from the task and the init law alone (docs/theory.md §5.7), nothing read
    from the ReLU: max gap .029-.035 (contexts-diff), .021-.026 (contexts-3), .019-.027 (contexts-4)
    and .019-.025 (contexts-5) over seeds 0-2. With every all-but-one pathway given all H/2 growing
    units instead of a K-th of them, contexts-4 (.047-.055) and contexts-5 (.060-.063) miss .05."""
    prediction = runs(preset)["prediction"]
    assert prediction["reads_from_relu"]["numbers"] == 0
    assert max(prediction["gap_to_relu"]["max"]) <= 0.05


@pytest.mark.parametrize("preset", SEEDED)
def test_seeded_prediction_derives_a_compact_reln_that_follows_the_relu(runs, preset):
    """Units in the field of the task-only prediction's error (docs/theory.md §5.8), nothing read from
    the ReLU: max gap .014-.019 (contexts-diff) and .011-.015 (contexts-4) over seeds 0-2, against the
    task-only flow's .029-.035 and .019-.027; at a tenth of the run the field's units are gated
    .04-.05 apart from the ReLU's own, a third of the all-open baseline's .15-.17."""
    seeded = runs(preset)["prediction_seeded"]
    reads = seeded["reads_from_relu"]
    assert reads["numbers"] == 0 and reads["read_phases"] == 0 and reads["gate_phases"] <= 16
    assert max(seeded["gap_to_relu"]["max"]) <= 0.03
    gating = seeded["gating_against_relu"]
    for field, baseline in zip(gating["difference"], gating["difference_all_open"]):
        assert field[0] <= 0.5 * baseline[0], (field, baseline)


def test_seeded_prediction_derives_the_structure_of_four_contexts(runs):
    """Four same-structure contexts: the field's units form the identified structure (the common and
    the four all-but-one sets; the largest other set .009 of the weight, the floor .02), the common
    share within .15 of the identified one (measured -.096), and late in the run their gating stays
    .11-.13 from the ReLU's own units (at half and all of the run, the all-open baseline .32-.34).
    A field along the linear residual, scaled to the prediction's loss, instead of the prediction's own
    error: other sets (common -.25) and .17-.19 late, where units keep leaving contexts whose
    residual the predicted pathways have already learnt."""
    seeded = runs("contexts-4")["prediction_seeded"]
    agreement = seeded["against_identified"]
    assert agreement["same_sets"], agreement
    assert abs(agreement["share_error"]["{1,2,3,4}"]) <= 0.15, agreement
    for field in seeded["gating_against_relu"]["difference"]:
        assert max(field[2:]) <= 0.15, field


@pytest.mark.parametrize(("preset", "low", "high"), [("contexts-diff", 0.35, 0.7), ("contexts-3", 0.55, 0.85),
                                                     ("contexts-4", 0.75, 1.0), ("contexts-5", 0.85, 1.15)])
def test_prediction_start_checked_against_the_seeds(runs, preset, low, high):
    """Point 2 of the prediction (docs/theory.md §5.7) in numbers: half the units grow (.475-.524
    over the presets' seeds, a binomial spread of about .02), the seeds' top-mode strength is the
    expected pi_0 to the draw's spread (.85-1.14 at leading order), and the H/(2K) units per
    all-but-one pathway match the identified sets from four contexts up (identified over predicted:
    .86-.88 at four, .97-1.02 at five) but not at three (.69-.72; .50-.53 on contexts-diff)."""
    start = runs(preset)["prediction"]["assumption_start"]
    assert all(0.43 <= f <= 0.57 for f in start["growing_fraction"]), start
    assert all(0.6 <= r <= 1.4 for r in start["common_strength_ratio_leading"]), start
    ratio = np.array(start["all_but_one_units_identified"]) / start["all_but_one_units_expected"]
    assert np.all((low <= ratio) & (ratio <= high)), (ratio, start)


@pytest.mark.slow  # the ReLU of four contexts and five passes of the field: run with -m slow
def test_fed_back_field_brackets_the_relus_common_share():
    """docs/theory.md §5.8, closing the loop, on four same-structure contexts (seeds 0-2): in the
    task-only error the field's units leave too much (common share error -.096), in the damped
    fed-back error, settled after four passes, too little (+.099), since the compact ReLN's theory
    runs ahead of the ReLU through the context-specific phase. The ReLU's common share lies between."""
    config = with_values(with_overrides(load_config("contexts-4"), seeds=SEEDS, models=("relu", "prediction_seeded")),
                         {"prediction_seeded.passes": 4})
    fed = run_experiment(config).metrics["prediction_seeded"]
    first, last = ({context_set_name(q["contexts"]): q["weight_share"] for q in p}["{1,2,3,4}"]
                   for p in fed["feedback"]["pathways_by_pass"][::4])
    relu = last - fed["against_identified"]["share_error"]["{1,2,3,4}"]  # the ReLU's identified share
    assert first - relu <= -0.05 and last - relu >= 0.05, (first, last, relu)
    assert fed["against_identified"]["same_sets"]


@pytest.mark.parametrize("preset", ["contexts-3", "contexts-4"])
def test_predicted_shares_match_the_identified_ones(runs, preset):
    """Same-structure tasks: every all-but-one pathway's predicted share within .04 of the identified
    mean share (measured differences up to .019 at K = 3 and .023 at K = 4), the common pathway's within
    .08 at K = 3 (measured +.052). The common pathway is predicted too large, the more so the more
    contexts (+.070 at K = 4, +.104 at K = 5, not asserted): the predicted pathways hold fixed sets from
    t = 0, while the ReLU's units carry common weight into the all-but-one sets they join (docs/theory.md §5.7)."""
    metrics = runs(preset)
    identified = {tuple(p["contexts"]): p["weight_share"] for p in metrics["reln"]["pathways"]}
    common, *all_but_one = metrics["prediction"]["pathways"]
    for pathway in all_but_one:
        assert abs(pathway["weight_share"] - identified[tuple(pathway["contexts"])]) <= 0.04, pathway
    if preset == "contexts-3":
        assert abs(common["weight_share"] - identified[tuple(common["contexts"])]) <= 0.08, common


@pytest.mark.parametrize(("preset", "minimum"), [("contexts-diff", 0.95), ("contexts-4", 0.90), ("contexts-5", 0.90)])
def test_identified_structure_is_common_plus_all_but_one(runs, preset, minimum):
    """Issue 3: the K + 1 largest pathways are the all-context pathway and the K all-but-one
    pathways (for K = 3 the three pairs), holding at least ``minimum`` of the weight.

    By rank, not against a .02 cut: contexts-5's largest other pathway reaches .0167 (seed 2; .0134
    with an init perturbed by 1e-6), so a cut sits within one numeric spread of it, while the
    smallest expected pathway (.14) is 8x larger. Measured total per seed (float32, float64,
    perturbed inits): contexts-diff .963-.992, contexts-4 .970-.988, contexts-5 .909-.933 -- the
    last within .01 of .90 on one seed, so the total is asserted as the seed mean (contexts-5:
    .921-.922 in every setting) and each seed's against ``minimum`` less .03."""
    metrics = runs(preset)
    K = metrics["task"]["contexts"]
    expected = {tuple(range(K))} | {tuple(c for c in range(K) if c != m) for m in range(K)}
    totals = []
    for seed in range(len(SEEDS)):
        shares = {tuple(p["contexts"]): p["weight_share_seeds"][seed] for p in metrics["reln"]["pathways"]}
        largest = sorted(shares, key=shares.get, reverse=True)[: len(expected)]
        assert set(largest) == expected, shares
        totals.append(sum(shares[p] for p in expected))
    assert np.mean(totals) >= minimum, totals
    assert min(totals) >= minimum - 0.03, totals


def test_modular_control_stalls_above_the_relu(runs):
    """The strictly modular control cannot share context pathways: docs/theory.md §7 has it end at
    2.73-2.76 (the ReLU: 0.016-0.024), and far from the ReLU on average (mean gap .036-.037)."""
    modular = runs("contexts-diff")["modular"]
    assert all(2.6 <= loss <= 2.9 for loss in modular["loss_final"]), modular["loss_final"]
    assert all(0.03 <= gap <= 0.045 for gap in modular["gap_to_relu"]["mean"])


def _mixed_share_at_threshold_zero(metrics, seed):
    """Weight of units active (for >= 1 item) in several but not all contexts, as in docs/theory.md §7."""
    K = metrics["task"]["contexts"]
    return sum(
        entry["weight_share"][seed]
        for entry in metrics["relu"]["context_weight_shares"]
        if 2 <= len(entry["contexts"]) < K
    )


def test_mixed_selectivity_grows_with_contexts_as_in_reference(runs):
    """The paper's claim 7, measured: the mixed-selective share rises with K. docs/theory.md §7 has
    30-34% / 44.7% / 53% for K = 3 / 4 / 5 (threshold 0, two seeds); seed-to-seed spread here is
    about 0.04, so each seed mean must be within 0.07 of the reference point."""
    reference = {"contexts-3": 0.32, "contexts-4": 0.447, "contexts-5": 0.53}
    means = {}
    for preset, expected in reference.items():
        metrics = runs(preset)
        means[preset] = float(np.mean([_mixed_share_at_threshold_zero(metrics, s) for s in range(len(SEEDS))]))
        assert abs(means[preset] - expected) <= 0.07, (preset, means[preset])
    assert means["contexts-3"] < means["contexts-4"] < means["contexts-5"], means
    # The same ordering at the identification's own threshold (units barely on in a context are off).
    default = {p: np.mean(runs(p)["relu"]["selectivity"]["mixed"]) for p in reference}
    assert default["contexts-3"] < default["contexts-4"] < default["contexts-5"], default


def _first_course_point_below(course: dict, seed: int, level: float) -> int:
    return next(k for k, loss in enumerate(course["loss"][seed]) if loss < level)


@pytest.mark.parametrize("preset", ["contexts-diff", "contexts-3"])
def test_units_leave_whole_contexts_as_the_loss_first_falls(runs, preset):
    """At the first checkpoint of the gating course below .6 L(0) (epoch 860 on both), units have
    left whole contexts (common share .77-.81, every seed) and are on for most items of the
    contexts they keep (coverage .89-.97): the whole-context ReLN's picture, where the compact
    ReLN meets its bounds. A few per-sample gate patterns carry 80% of the weight there (11-12 on
    contexts-diff, 4-6 on contexts-3). tests/test_untuned.py has the contrast at six contexts."""
    course = runs(preset)["relu"]["gating_course"]
    for seed in range(len(SEEDS)):
        k = _first_course_point_below(course, seed, 0.6)
        assert course["common"][seed][k] < 0.9
        assert course["within_context_coverage"][seed][k] > 0.85
        assert course["pathways_context"][seed][k] <= course["pathways_sample"][seed][k] <= 20
