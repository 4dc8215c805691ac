"""Every claim of the paper scored from a reproduction's results: a verdict and the numbers behind it.

Each claim (numbered as in docs/theory.md §1) is read from the ``metrics.json`` files that
``reln reproduce`` writes, by a rule stated with it; the verdict is ``holds``, ``partly``,
``fails`` or ``not run`` (an experiment it needs is missing). The rules' levels are choices, not
fits: a gap of 0.05 of ``L(0)`` is where two loss curves stop looking alike on the figures, and
the share levels (0.9, 0.01) are the round numbers a reader of the paper would check.

This module only reads files and builds tasks (for claim 8's correlations); it trains nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reln.identification.analysis import GATING_WEIGHT, context_set_name
from reln.identification.course import GATING_SIZES

HOLDS, PARTLY, FAILS, NOT_RUN = "holds", "partly", "fails", "not run"
GAP_LEVEL = 0.05
ONE_LAYER = ("contexts-diff", "contexts-3", "contexts-4", "contexts-5")
DEPTHS = (("contexts-3", 1), ("depth", 2), ("depth-3", 3))


def _metrics(out: Path, name: str) -> dict | None:
    path = out / name / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _worst(values) -> float | None:
    values = [v for v in values or [] if v is not None]
    return max(values) if values else None


def _mean(values) -> float | None:
    values = [v for v in values or [] if v is not None]
    return float(np.mean(values)) if values else None


def _missing(claim: dict, names) -> dict:
    return claim | {"verdict": NOT_RUN, "numbers": {}, "why": f"needs {', '.join(names)}"}


def _sizes_as_loss_halves(course: dict | None) -> dict | None:
    """The ReLU's gating sizes (docs/theory.md §3.2) at the first gating-course checkpoint below half
    its initial loss, mean over seeds: how many pathways a ReLN (context gates) and a GDLN gated
    like the ReLU (per-sample gates) need there to hold most of the weight."""
    if not course or not all(key in course for key in GATING_SIZES):
        return None
    sizes = {key: [] for key in GATING_SIZES}
    for s, losses in enumerate(course["loss"]):
        k = next((k for k, loss in enumerate(losses) if loss < 0.5), None)
        for key in sizes:
            sizes[key].append(None if k is None else course[key][s][k])
    return {key: _mean(values) for key, values in sizes.items()}


def equivalence(out: Path) -> dict:
    """Claims 1 and 9: the compact ReLN follows the ReLU's loss on every one-layer experiment."""
    claim = {"claim": 1, "title": "A ReLU network learns like its compact ReLN (few pathways, whole-context gates)",
             "rule": f"holds if the compact ReLN's max gap is <= {GAP_LEVEL} on every seed of every one-layer "
                     f"experiment; partly if <= {2 * GAP_LEVEL}; the prediction (nothing read) is reported beside it"}
    found = {n: _metrics(out, n) for n in ONE_LAYER}
    found = {n: m for n, m in found.items() if m is not None and "reln" in m}
    if not found:
        return _missing(claim, ONE_LAYER)
    numbers = {
        n: {"compact_gap_max": _worst(m["reln"]["gap_to_relu"]["max"]),
            "compact_gap_mean": _worst(m["reln"]["gap_to_relu"]["mean"]),
            "compact_reads": m["reln"].get("reads_from_relu", {}).get("numbers"),
            "prediction_gap_max": _worst(m.get("prediction", {}).get("gap_to_relu", {}).get("max")),
            "relu_pathways_as_loss_halves": _sizes_as_loss_halves(m.get("relu", {}).get("gating_course")),
            "seeds": m["reln"].get("seeds")}
        for n, m in found.items()
    }
    worst = max(v["compact_gap_max"] for v in numbers.values())
    verdict = HOLDS if worst <= GAP_LEVEL else PARTLY if worst <= 2 * GAP_LEVEL else FAILS
    why = f"worst compact max gap {worst:.3f}"
    sizes = [v["relu_pathways_as_loss_halves"] for v in numbers.values() if v["relu_pathways_as_loss_halves"]]
    sizes = [z for z in sizes if None not in z.values()]
    if sizes:
        context, sample = ([z[key] for z in sizes] for key in GATING_SIZES)
        def span(values):
            low, high = f"{min(values):.0f}", f"{max(values):.0f}"
            return low if low == high else f"{low}-{high}"

        why += (f"; as the loss halves, {span(context)} context sets and {span(sample)} per-sample gate patterns "
                f"hold {GATING_WEIGHT:.0%} of the ReLU's weight")
    return claim | {"verdict": verdict, "numbers": numbers, "why": why}


def theory_follows(out: Path) -> dict:
    """Claim 9: the theory (balanced flow of the compact schedule) follows the ReLU's loss."""
    claim = {"claim": 9, "title": "The ReLN's theory follows the ReLU network's loss",
             "rule": f"holds if the theory's max gap is <= {GAP_LEVEL} on every seed of every one-layer experiment; "
                     f"partly if <= {2 * GAP_LEVEL}"}
    found = {n: m for n in ONE_LAYER if (m := _metrics(out, n)) is not None and "theory" in m}
    if not found:
        return _missing(claim, ONE_LAYER)
    numbers = {n: {"theory_gap_max": _worst(m["theory"]["gap_to_relu"]["max"]),
                   "theory_gap_mean": _worst(m["theory"]["gap_to_relu"]["mean"])} for n, m in found.items()}
    worst = max(v["theory_gap_max"] for v in numbers.values())
    verdict = HOLDS if worst <= GAP_LEVEL else PARTLY if worst <= 2 * GAP_LEVEL else FAILS
    return claim | {"verdict": verdict, "numbers": numbers, "why": f"worst theory max gap {worst:.3f}"}


def four_modules(out: Path) -> dict:
    """Claim 4: at K = 3 the identified ReLN is one common pathway and the three pairs."""
    claim = {"claim": 4, "title": "With three contexts: one common pathway and three pathways each open in two contexts",
             "rule": "holds if, on every seed of contexts-3 and contexts-diff, the common pathway and the three pairs "
                     "carry >= 0.9 of the identified weight and each of the four >= 0.05; partly if >= 0.75"}
    found = {n: m for n in ("contexts-3", "contexts-diff") if (m := _metrics(out, n)) is not None and "reln" in m}
    if not found:
        return _missing(claim, ("contexts-3", "contexts-diff"))
    numbers, worst_total, worst_each = {}, 1.0, 1.0
    for name, m in found.items():
        shares = {tuple(p["contexts"]): p["weight_share_seeds"] for p in m["reln"]["pathways"]}
        four = [(0, 1, 2), (0, 1), (1, 2), (0, 2)]
        per_seed = np.array([shares.get(c, [0.0] * len(m["reln"]["seeds"])) for c in four])  # (4, seeds)
        numbers[name] = {"four_pathways_share": per_seed.sum(0).tolist(),
                         "each": {context_set_name(c): per_seed[i].tolist() for i, c in enumerate(four)}}
        worst_total = min(worst_total, float(per_seed.sum(0).min()))
        worst_each = min(worst_each, float(per_seed.min()))
    verdict = HOLDS if worst_total >= 0.9 and worst_each >= 0.05 else PARTLY if worst_total >= 0.75 else FAILS
    return claim | {"verdict": verdict, "numbers": numbers,
                    "why": f"the four carry >= {worst_total:.2f}; the smallest of them {worst_each:.2f}"}


def no_modular(out: Path) -> dict:
    """Claim 5: ReLU networks do not form strictly modular (single-context) units."""
    claim = {"claim": 5, "title": "No strictly modular units: structured mixed selectivity instead",
             "rule": "holds if the weight share of units active in exactly one context is <= 0.01 on every seed of "
                     "every one-layer experiment while the mixed share is > 0 for K >= 3; partly if <= 0.05"}
    found = {n: m for n in ONE_LAYER if (m := _metrics(out, n)) is not None and "selectivity" in m.get("relu", {})}
    if not found:
        return _missing(claim, ONE_LAYER)
    numbers = {n: {"modular": m["relu"]["selectivity"]["modular"], "mixed": m["relu"]["selectivity"]["mixed"],
                   "activity_threshold": m["relu"]["selectivity"].get("activity_threshold")} for n, m in found.items()}
    worst = max(_worst(v["modular"]) for v in numbers.values())
    mixed = min(min(v["mixed"]) for v in numbers.values())
    verdict = HOLDS if worst <= 0.01 and mixed > 0 else PARTLY if worst <= 0.05 else FAILS
    return claim | {"verdict": verdict, "numbers": numbers,
                    "why": f"largest modular share {worst:.3f}; smallest mixed share {mixed:.2f}"}


def reuse_is_faster(out: Path) -> dict:
    """Claim 6: node reuse learns faster than the modular control (common + one pathway per context)."""
    claim = {"claim": 6, "title": "Node reuse learns faster than a modular network",
             "rule": "holds if, on every seed of contexts-diff, the ReLU and the compact ReLN reach 0.1 of L(0) at "
                     "least 5% sooner than the modular control (same widths and init); partly if sooner on some seeds"}
    m = _metrics(out, "contexts-diff")
    if m is None or "modular" not in m:
        return _missing(claim, ("contexts-diff with the modular model",))
    ep = {k: m[k]["epoch_below"]["0.1"] for k in ("relu", "reln", "modular") if k in m}
    modular = ep["modular"]
    ratios = {k: [None if a is None or b is None else a / b for a, b in zip(ep[k], _broadcast(modular, ep[k]))]
              for k in ("relu", "reln") if k in ep}
    values = [r for rs in ratios.values() for r in rs]
    if any(r is None for r in values):  # the modular control never got there: reuse is faster
        values = [0.0 if r is None else r for r in values]
    verdict = HOLDS if max(values) <= 0.95 else PARTLY if min(values) < 1 else FAILS
    return claim | {"verdict": verdict, "numbers": {"ep10": ep, "ratio_to_modular": ratios},
                    "why": f"ep(0.1) ratio to the modular control {min(values):.2f}–{max(values):.2f}"}


def _broadcast(values, like):
    return values if len(values) == len(like) else values[:1] * len(like)


def grows_with_contexts(out: Path) -> dict:
    """Claim 7 (contexts): the mixed-selective share grows with the number of contexts."""
    claim = {"claim": 7, "title": "Mixed selectivity grows with the number of contexts",
             "rule": "holds if the mean mixed share rises with K at every step from K = 3 on (at K = 2 'several but "
                     "not all' is impossible); partly if its rank correlation with K is positive"}
    path = out / "contexts-sweep" / "sweep.json"
    if not path.is_file():
        return _missing(claim, ("contexts-sweep",))
    entries = json.loads(path.read_text())
    ks = [e["contexts"] for e in entries if e["contexts"] >= 3]
    mixed = [float(np.mean(e["mixed"])) for e in entries if e["contexts"] >= 3]
    steps = np.diff(mixed)
    rho = _rank_correlation(ks, mixed)
    verdict = HOLDS if len(steps) and (steps > 0).all() else PARTLY if rho > 0 else FAILS
    predicted = [e.get("predicted_mixed") for e in entries if e["contexts"] >= 3]
    seeded = [float(np.mean(e["predicted_mixed_seeded"])) if e.get("predicted_mixed_seeded") else None
              for e in entries if e["contexts"] >= 3]
    return claim | {"verdict": verdict, "numbers": {"K": ks, "mixed_mean": mixed, "rank_correlation": rho,
                                                    "predicted_mixed (task and init law only)": predicted,
                                                    "predicted_mixed_seeded (each seed's initial units)": seeded,
                                                    "seeds": len(entries[0]["mixed"]) if entries else 0},
                    "why": f"rank correlation {rho:.2f}; {int((steps > 0).sum())} of {len(steps)} steps rise"}


def _rank_correlation(x, y) -> float:
    from scipy.stats import spearmanr

    if len(x) < 2:
        return math.nan
    return float(spearmanr(x, y).statistic)


def grows_with_depth(out: Path) -> dict:
    """Claim 7 (depth): the mixed-selective share grows with the number of hidden layers, compared at
    a matched stage of learning (the first checkpoint below 0.1 of L(0), ``relu.stage``)."""
    claim = {"claim": 7, "title": "Mixed selectivity grows with depth (at a matched stage of learning)",
             "rule": "holds if the largest mixed share of any hidden layer, at the first checkpoint below 0.1 of L(0), "
                     "rises from 1 to 2 to 3 hidden layers (mean over seeds); partly if 3 layers exceed 1"}
    found = {depth: (name, m) for name, depth in DEPTHS
             if (m := _metrics(out, name)) is not None and "stage" in m.get("relu", {})}
    if len(found) < 2:
        return _missing(claim, [n for n, _ in DEPTHS])
    numbers, peak = {}, {}
    for depth, (name, m) in sorted(found.items()):
        stage = m["relu"]["stage"]
        layers = {f"layer {l['layer']}": l["mixed"] for l in stage["layers"]}
        per_seed = [max((v for v in values if v is not None), default=None)
                    for values in zip(*[l["mixed"] for l in stage["layers"]])]
        peak[depth] = _mean(per_seed)
        numbers[f"{depth} hidden"] = {"experiment": name, "stage_epoch": stage["epoch"], "mixed": layers,
                                      "largest_layer_mixed_mean": peak[depth]}
    order = [peak[d] for d in sorted(peak) if peak[d] is not None]
    rising = len(order) == len(peak) and all(b > a for a, b in zip(order, order[1:]))
    verdict = HOLDS if rising and len(peak) == 3 else PARTLY if order and order[-1] > order[0] else FAILS
    return claim | {"verdict": verdict, "numbers": numbers,
                    "why": "largest per-layer mixed share " + ", ".join(f"{d} layer(s): {p:.2f}" for d, p in sorted(peak.items())
                                                                     if p is not None)}


def context_inputs_silent(out: Path) -> dict:
    """Claim 8: once the common structure is learned, the context inputs do not correlate with what
    remains, so a context pathway needs only the items. Measured on each task: the normalised
    correlation of the linear residual with the context inputs on every union of whole contexts."""
    from reln.experiment.config import load_config
    from reln.experiment.experiments import build_task
    from reln.relns.imitate import context_correlation

    claim = {"claim": 8, "title": "Context inputs carry no correlation with the residual of the common pathway",
             "rule": "holds if the correlation is below 1e-6 on every proper union of contexts of every experiment "
                     "with one-hot inputs; the digits task (not one-hot) is reported beside it"}
    names = [n for n in (*ONE_LAYER, "digits-contexts") if (out / n / "metrics.json").is_file()]
    if not names:
        return _missing(claim, ONE_LAYER)
    numbers = {}
    for name in names:
        task = build_task(load_config(name))
        K = task.n_contexts
        sets = [[c for c in range(K) if code >> c & 1] for code in range(1, 2**K - 1)]
        numbers[name] = max(context_correlation(task, task.context_mask(s)) for s in sets)
    one_hot = [v for n, v in numbers.items() if n != "digits-contexts"]
    if not one_hot:
        return _missing(claim, ONE_LAYER)
    verdict = HOLDS if max(one_hot) < 1e-6 else PARTLY if max(one_hot) < 0.05 else FAILS
    return claim | {"verdict": verdict, "numbers": {"max_correlation": numbers},
                    "why": f"largest on one-hot tasks {max(one_hot):.1e}"}


def xor_distinguishes(out: Path) -> dict:
    """Claim 10: the XOR task tells a 2-pathway from a 4-pathway ReLN (on reln's construction)."""
    claim = {"claim": 10, "title": "XOR distinguishes a 2-pathway from a 4-pathway ReLN (reln's own XOR)",
             "rule": f"holds if one of the two follows the ReLU (max gap <= {GAP_LEVEL}) and the other's gap is at "
                     "least twice as large; partly if they differ by 2x but neither follows"}
    m = _metrics(out, "xor")
    if m is None or "per-class" not in m or "per-datapoint" not in m:
        return _missing(claim, ("xor",))
    gaps = {k: _worst(m[k]["gap_to_relu"]["max"]) for k in ("per-class", "per-datapoint", "shared-halves") if k in m}
    two, four = gaps["per-class"], gaps["per-datapoint"]
    best, other = min(two, four), max(two, four)
    verdict = HOLDS if best <= GAP_LEVEL and other >= 2 * best else PARTLY if other >= 2 * best else FAILS
    return claim | {"verdict": verdict, "numbers": {"gap_max": gaps},
                    "why": f"2-pathway {two:.3f}, 4-pathway {four:.3f}"}


CLAIMS: tuple[Callable[[Path], dict], ...] = (
    equivalence, theory_follows, four_modules, no_modular, reuse_is_faster, grows_with_contexts,
    grows_with_depth, context_inputs_silent, xor_distinguishes,
)


def score_claims(out: Path) -> list[dict]:
    """Every claim's verdict and numbers from the results under ``out`` (``claims.json``).

    >>> import tempfile
    >>> [c["verdict"] for c in score_claims(Path(tempfile.mkdtemp()))][:2]
    ['not run', 'not run']
    """
    return [score(Path(out)) for score in CLAIMS]
