"""The report page of ``reln reproduce``: one self-contained HTML file over the run folders.

The page reads only what the runs wrote (``config.json``, ``metrics.json``, ``sweep.json`` and the
figures), so it can be redrawn at any time without training. Figures are linked by relative path
(PNG shown, PDF linked) and the CSS is inline: the page needs no network access and the folder can
be moved or zipped as a whole.

Every number is given over seeds as ``mean [min–max]``; the reference implementation's numbers
(docs/theory.md §7, the ``[paper]`` table of each preset) are shown beside ours.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

from reln.gates.schedule import describe_reads
from reln.identification.analysis import GATING_WEIGHT, STRUCTURE_FLOOR
from reln.identification.course import GATING_SIZES
from reln.viz.plots import MODEL_LABELS

FIGURE_CAPTIONS = {
    "loss": "Loss of every model over training, every seed faint and the mean bold; the dashed line is the best a linear map can do.",
    "structure": "The ReLN identified from the ReLU network: its pathways (rows) by the contexts they are on in, with weight shares.",
    "outputs": "Network outputs at chosen epochs beside the target (seed 0): negative, zero and positive clearly apart.",
    "dataset": "The task: inputs X and targets Y, samples grouped by context.",
    "mds": "Hidden representations over training, embedded in two dimensions by MDS (seed 0).",
    "rdm": "Representational dissimilarity matrices at the end of training (seed 0).",
    "singular_values": "Singular values of each pathway's end-to-end map over training.",
    "sweep": ("Mixed-selective weight share, within-context coverage and speed of the context-specific phase against "
              "the number of contexts, with when the loss only gating removes leaves its plateau, measured and predicted "
              "from the task; right: how the units gate as the loss first halves."),
    "theory": "Theory beside the trained networks.",
    "loss_split": ("Each model's loss split into the part a linear map can remove and the part only gating can "
                   "(docs/theory.md §5.7): a model follows the ReLU's learning where it follows both of its curves."),
    "reln_phases": "The compact ReLN's gate phases (columns, their start epochs on top): how many units each pathway has in each phase; derived phases (early and item phases) are starred.",
    "gating": ("How the ReLU's units gate over training: shares by the number of contexts served, within-context "
               "coverage (1: whole-context gates) and the loss; units leave contexts where the common share falls, "
               "gate by items where the coverage does."),
    "layers": "Deep networks: per hidden layer, the ReLU units' weight by the set of contexts they are active in; where the gating lives.",
}
FIGURE_ORDER = ("loss", "loss_split", "structure", "reln_phases", "theory", "gating", "layers", "outputs", "dataset", "mds", "rdm",
                "singular_values", "sweep")
PAPER_ROWS = {"relu": "ReLU", "paper_reln": "ReLN", "modular": "modular"}
"""Our model -> the reference implementation's row of the same network (docs/theory.md §7)."""

COLUMNS = (
    ("ep50", "ep(0.5)"), ("ep10", "ep(0.1)"), ("loss_final", "final loss"),
    ("gap_max", "max gap"), ("gap_mean", "mean gap"), ("seconds", "s / seed"),
)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; } p.caption { font-weight: 600; margin: 1em 0 0.2em 0; }
td { white-space: nowrap; } .scroll { overflow-x: auto; max-width: 100%; }
td.ref { color: #666; } th.ref { color: #555; font-weight: normal; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 0.8em; }
figure { margin: 0; } figure img { width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.82em; color: #555; } .note { color: #555; font-size: 0.9em; }
nav a { margin-right: 1em; } details { margin: 0.6em 0; } summary { cursor: pointer; color: #333; }
table.claims td { white-space: normal; text-align: left; vertical-align: top; }
"""


def _spread(values) -> str:
    """``mean [min–max]`` of a per-seed list (``None`` entries mean "never"), or one value."""
    if values is None:
        return ""
    values = values if isinstance(values, list) else [values]
    present = [v for v in values if v is not None]
    if not present:
        return "never"
    missing = "" if len(present) == len(values) else f" ({len(values) - len(present)} never)"
    if len(present) == 1 or min(present) == max(present):
        return _number(present[0]) + missing
    mean = sum(present) / len(present)
    return f"{_number(mean)} [{_number(min(present))}–{_number(max(present))}]{missing}"


def _number(value) -> str:
    if isinstance(value, int) or abs(value) >= 100:  # epochs and their means: whole numbers read best
        return f"{value:.0f}"
    if value == 0 or not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if abs(value) >= 1e-3 else f"{value:.2e}"


def _model_row(label: str, m: dict) -> list[str]:
    gap = m.get("gap_to_relu", {})
    seeds = len(m["loss_final"]) if isinstance(m.get("loss_final"), list) else 1
    values = {
        "ep50": m.get("epoch_below", {}).get("0.5"), "ep10": m.get("epoch_below", {}).get("0.1"),
        "loss_final": m.get("loss_final"), "gap_max": gap.get("max"), "gap_mean": gap.get("mean"),
        "seconds": m.get("seconds"),
    }
    return [label, str(seeds)] + [_spread(values[key]) for key, _ in COLUMNS] + [describe_reads(m.get("reads_from_relu")) or "–"]


def _comparison_table(metrics: dict, paper: dict) -> str:
    """One table per experiment: each model's numbers with the reference implementation's beside
    them, same row (our model name; the reference implementation's row of the same network), and
    the reference implementation's own models (its race and closed-form theories) below ours."""
    models = [(m, s) for m, s in metrics.items() if isinstance(s, dict) and "loss_final" in s]
    header = ["model", "seeds"]
    for _, title in COLUMNS:
        header += [title, "ref."]
    header.append("reads from the ReLU run")
    head = "".join(f'<th class="ref">{html.escape(h)}</th>' if h == "ref." else f"<th>{html.escape(h)}</th>"
                   for h in header)
    rows = []
    for model, section in models:
        ours = _model_row(MODEL_LABELS.get(model, model), section)
        theirs = paper.get(PAPER_ROWS.get(model, ""), {})
        cells = [ours[0], ours[1]]
        for k, (key, _) in enumerate(COLUMNS):
            cells += [html.escape(ours[2 + k]), f'<span class="ref">{html.escape(_paper_cell(theirs.get(key)))}</span>']
        rows.append([html.escape(cells[0]), html.escape(cells[1]), *cells[2:], html.escape(ours[-1])])
    for label, numbers in paper.items():
        if label in PAPER_ROWS.values():
            continue
        cells = [html.escape(f"{label} (reference implementation's model)"), "3"]
        for key, _ in COLUMNS:
            cells += ["", f'<span class="ref">{html.escape(_paper_cell(numbers.get(key)))}</span>']
        rows.append(cells + ["–"])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    caption = ("Ours (mean [min–max] over seeds) beside the reference implementation's range (ref., grey; "
               "docs/theory.md §7; its time is per script)")
    return f'<p class="caption">{html.escape(caption)}</p><div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    # a heading above, not a <caption>: a caption wraps to the table's width
    return f'<p class="caption">{html.escape(caption)}</p><div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _figure_kind(stem: str) -> str:
    if stem in FIGURE_ORDER:  # an exact stem first: "loss_split" is not a "loss" figure
        return stem
    for kind in FIGURE_ORDER:
        if stem.endswith(kind) or stem.startswith(kind):
            return kind
    return stem


def _figures(folder: Path, name: str) -> str:
    """Every PNG of a run folder, in :data:`FIGURE_ORDER`, linked relatively, with its PDF if any."""
    pngs = sorted(folder.glob("*.png"), key=lambda p: (FIGURE_ORDER.index(k) if (k := _figure_kind(p.stem)) in FIGURE_ORDER else 99, p.stem))
    parts = []
    for png in pngs:
        kind = _figure_kind(png.stem)
        caption = FIGURE_CAPTIONS.get(kind, png.stem.replace("_", " "))
        if kind == "singular_values":
            caption = f"{png.stem.removesuffix('_singular_values')}: {caption}"
        pdf = png.with_suffix(".pdf")
        link = f' (<a href="{html.escape(name)}/{html.escape(pdf.name)}">PDF</a>)' if pdf.is_file() else ""
        source = f"{html.escape(name)}/{html.escape(png.name)}"
        parts.append(
            f'<figure><a href="{source}" target="_blank"><img src="{source}" alt="{html.escape(png.stem)}" loading="lazy"></a>'
            f"<figcaption><b>{html.escape(png.stem.replace('_', ' '))}.</b> {html.escape(caption)}{link}</figcaption></figure>"
        )
    if not parts:
        return ""
    return '<p class="note">Click a figure to open it full size.</p><div class="figs">' + "".join(parts) + "</div>"


def _part_spreads(split: dict | None) -> str:
    """``linear / gated`` max misses of a ``gap_split``, each as :func:`_spread`."""
    return "" if not split else f"{_spread(split['linear'])} / {_spread(split['gated'])}"


def _split_table(metrics: dict) -> str:
    """Where each model's gap lies: in the loss a linear map can remove, or in the loss only gating
    can (``gap_split``, :func:`reln.identification.analysis.split_gap`)."""
    rows = []
    for model, section in metrics.items():
        split = section.get("gap_split") if isinstance(section, dict) else None
        if not split:
            continue
        where = [", ".join(f"{e} ({v:+.3f})" for e, v in zip(split[f"{part}_epoch"], split[f"{part}_signed"]))
                 for part in ("linear", "gated")]
        rows.append([MODEL_LABELS.get(model, model), _spread(split["linear"]), where[0], _spread(split["gated"]), where[1]])
    if not rows:
        return ""
    return _table(
        "Where the gap lies, at the snapshots a model shares with the ReLU run: max |difference| / L_ReLU(0) of the "
        "loss a linear map can remove (½‖E P_X‖², P_X = X⁺X) and of the loss only gating can (½‖E (I − P_X)‖²), "
        "and per seed the epoch of each part's largest miss (+: the model behind) (docs/theory.md §5.7)",
        ["model", "linear part", "its largest, per seed", "gated part", "its largest, per seed"], rows)


def _pathway_table(section: dict, model: str) -> str:
    rows = []
    for p in section.get("pathways", []):
        units = p.get("units")
        rows.append([
            p.get("name") or "", "all" if p.get("contexts") is None else ",".join(str(c + 1) for c in p["contexts"]),
            str(p.get("inputs", "")), _spread(units), "" if p.get("weight_share") is None else _spread(p.get("weight_share_seeds") or p["weight_share"]),
        ])
    if not rows:
        return ""
    return _table(f"{model}: pathways (contexts from 1; weight share of the ReLU units on the same contexts)",
                  ["pathway", "contexts", "inputs", "units", "weight share"], rows)


def _selectivity_table(relu: dict) -> str:
    selectivity = relu.get("selectivity")
    if not selectivity:
        return ""
    kinds = [k for k in ("common", "mixed", "modular", "silent") if k in selectivity]
    rows = [[kind, _spread(selectivity[kind])] for kind in kinds]
    return _table(
        f"ReLU units{' of the first hidden layer' if relu.get('layers') else ''} by selectivity "
        f"(weight share; activity threshold {selectivity.get('activity_threshold')} of each unit's peak)",
        ["class", "weight share"], rows,
    )


def _gating_course_table(relu: dict) -> str:
    """How the ReLU's first hidden layer gates over training (docs/theory.md §3.2): by leaving
    contexts (the common share falls) or by items inside them (the coverage falls)."""
    course = relu.get("gating_course")
    if not course:
        return ""
    keys = ["loss", "common", "mixed", "modular", "within_context_coverage"]
    headers = ["epoch", "loss", "common", "mixed", "modular", "within-context coverage"]
    if all(key in course for key in GATING_SIZES):
        keys += list(GATING_SIZES)
        headers += ["pathways (context gates)", "pathways (per-sample gates)"]
    rows = [[str(epoch)] + [_spread([seed[k] for seed in course[key]]) for key in keys]
            for k, epoch in enumerate(course["epochs"])]
    return _table(
        "How the ReLU's units gate over training: loss (fraction of L(0)), weight shares by the number of contexts "
        "served, within-context coverage (the weighted fraction of the samples of a unit's own contexts on which "
        f"it is on; 1 for whole-context gates), and the fewest pathways holding {GATING_WEIGHT:.0%} of the units' "
        "weight with whole-context gates and with the units' own per-sample gates (docs/theory.md §3.2)",
        headers, rows,
    )


def _start_table(prediction: dict) -> str:
    """The task-only prediction's start against each seed (docs/theory.md §5.7, point 2): the fraction
    of units that grow, their top-mode strength over the expected ``pi_0``, and the units of each
    all-but-one set the ReLU's identification finds over the ``H / (2K)`` the prediction gives it."""
    start = prediction.get("assumption_start")
    if not start:
        return ""
    expected = start["all_but_one_units_expected"]
    rows = [[str(seed), f"{grow:.3f}", f"{lead:.3f}", f"{flow:.3f}",
             f"{units:.1f} / {expected} = {units / expected:.2f}" if expected else "-", f"{held:.3f}"]
            for seed, (grow, lead, flow, units, held) in enumerate(zip(
                start["growing_fraction"], start["common_strength_ratio_leading"],
                start["common_strength_ratio_early_flow"], start["all_but_one_units_identified"],
                start["identified_units_fraction"]))]
    return _table(
        "The prediction's start against each seed's initial units and the ReLU's identified pathways "
        "(docs/theory.md §5.7, point 2; its assumption: one half, 1, 1, 1 and one half)",
        ["seed", "units growing", "top-mode strength / pi_0", "the same after the early flow",
         "units per all-but-one set, identified / predicted", "units in identified pathways"], rows,
    )


def _feedback_table(seeded: dict) -> str:
    """The seeded prediction's structure pass by pass when its field is fed back (docs/theory.md §5.8):
    each pass's sets of weight share at least .02 (mean over seeds) and, beside a ReLU run, its largest
    share error against the ReLU's identified pathways."""
    feedback = seeded.get("feedback")
    if not feedback:
        return ""
    errors = feedback.get("share_error_max_by_pass") or [None] * len(feedback["pathways_by_pass"])
    rows = [[str(k), " ".join(f"{p['name']} {p['weight_share']:.2f}" for p in pathways
                              if p["weight_share"] >= STRUCTURE_FLOOR),
             "-" if error is None else f"{error:.3f}"]
            for k, (pathways, error) in enumerate(zip(feedback["pathways_by_pass"], errors))]
    return _table(
        f"The seeded prediction's structure pass by pass (docs/theory.md §5.8): pass 0 in the task-only error, then "
        f"its compact theory's error fed back at mix {feedback['mix']}; sets with weight share at least {STRUCTURE_FLOOR:g}",
        ["pass", "sets and weight shares", "largest share error against the ReLU's"], rows,
    )


def _layer_table(relu: dict) -> str:
    """Selectivity per hidden layer of a deep ReLU network: where the gating lives."""
    layers = relu.get("layers")
    if not layers:
        return ""
    kinds = ("common", "mixed", "modular", "silent")
    rows = [
        [f"layer {entry['layer']}"] + [_spread(entry["selectivity"][k]) for k in kinds]
        + [_spread([seed[-1] for seed in entry["imbalance"]["seeds"]]) if "imbalance" in entry else ""]
        for entry in layers
    ]
    return _table(
        "ReLU weight share by selectivity, per hidden layer; imbalance ||W_out^T W_out − W_in W_in^T|| / (sum of norms) "
        "of the layer's two sides at the end (0: balanced, as the deep-pathway theory assumes)",
        ["layer", *kinds, "imbalance"], rows,
    )


def _sequence_table(relu: dict) -> str:
    """The deep ReLU's largest pathways as sequences of per-layer context sets."""
    sequences = relu.get("path_sequences")
    if not sequences:
        return ""
    name = lambda contexts: "{" + ",".join(str(c + 1) for c in contexts) + "}" if contexts else "silent"  # noqa: E731
    rows = [[" → ".join(name(c) for c in entry["contexts"]), _spread(entry["weight_share"])] for entry in sequences]
    return _table(
        "Pathways as sequences of per-layer groups (contexts a unit is on in, layer by layer): share of path weight",
        ["layer 1 → … → last layer", "share"], rows,
    )


def _experiment_section(out: Path, name: str) -> str:
    folder = out / name
    config = json.loads((folder / "config.json").read_text())
    parts = [f'<h2 id="{html.escape(name)}">{html.escape(name)}</h2>', f"<p>{html.escape(config.get('description', ''))}</p>"]
    if config.get("question"):
        parts.append(f"<p><b>What it tests.</b> {html.escape(config['question'])}</p>")
    if config.get("environment"):
        parts.append(_environment_note(config["environment"]))
    if (folder / "sweep.json").is_file():
        entries = json.loads((folder / "sweep.json").read_text())
        rows = [[
            str(e["contexts"]), _spread(e["mixed"]), _spread(e.get("predicted_mixed")),
            _spread(e.get("predicted_mixed_seeded")), _spread(e["common"]), _spread(e["modular"]),
            _spread(e["epoch_below_linear_floor"]),
            _spread((e.get("epoch_gated_below") or {}).get("0.5")),
            _spread((e.get("predicted_epoch_gated_below") or {}).get("0.5")), _spread(e["loss_final"]),
            _spread(e.get("within_context_coverage")),
            _spread((e.get("at_half_loss") or {}).get("common")),
            _spread((e.get("at_half_loss") or {}).get("within_context_coverage")),
            _spread((e.get("at_half_loss") or {}).get(GATING_SIZES[1])),
            _spread((e.get("compact_reln") or {}).get("max")), _part_spreads((e.get("compact_reln") or {}).get("gap_split")),
            _spread((e.get("theory") or {}).get("max")),
        ] for e in entries]
        parts.append(_table(
            "ReLU weight share by selectivity beside the mixed share predicted from the task alone (docs/theory.md §5.7) "
            "and from each seed's initial units (§5.8), the first epoch below the best linear map, and the first at which "
            "the loss only gating removes is half gone, measured and predicted from the task (§5.7), against K "
            "(reference implementation, ReLU units on in all-but-one contexts: about .30 at K = 3, .45 at K = 4, .53 at K = 5); "
            "within-context coverage at the end, and as the loss first halves the common share, the coverage and "
            f"the fewest per-sample gate patterns holding {GATING_WEIGHT:.0%} of the weight (docs/theory.md §3.2); "
            "the max gap to the ReLU of the compact ReLN (and of its linear and gated parts, §5.7) and of its theory "
            "(§5.3, §5.5): where the compact picture holds against K",
            ["K", "mixed", "mixed predicted (task)", "mixed predicted (seeded)", "common", "modular",
             "epoch below linear floor", "gated part halved", "halved, predicted (task)", "final loss", "coverage",
             "common at L(0)/2", "coverage at L(0)/2", "per-sample pathways at L(0)/2",
             "compact ReLN max gap", "its linear / gated part", "theory max gap"], rows,
        ))
    else:
        metrics = json.loads((folder / "metrics.json").read_text())
        task = metrics["task"]
        parts.append(
            f'<p class="note">{html.escape(task["name"])}: P = {task["P"]} samples, {task["n_in"]} inputs, '
            f'{task["n_out"]} outputs; initial loss {task["loss_initial"]:.4g}, best linear map {task["loss_linear_floor"]:.4g}. '
            "Times are per seed, on this machine; ep(f) is the first epoch with loss below f times the initial loss; "
            "gaps are |L − L_ReLU| / L_ReLU(0), seed by seed.</p>"
        )
        parts.append(_comparison_table(metrics, config.get("paper") or {}))
        parts.append(_split_table(metrics))
        details = []
        if "relu" in metrics:
            details += [_selectivity_table(metrics["relu"]), _gating_course_table(metrics["relu"]),
                        _layer_table(metrics["relu"]), _sequence_table(metrics["relu"])]
        for model, section in metrics.items():
            if isinstance(section, dict) and "pathways" in section and model == "reln":
                details.append(_pathway_table(section, model))
        if "prediction" in metrics:
            details.append(_start_table(metrics["prediction"]))
        if "prediction_seeded" in metrics:
            details.append(_feedback_table(metrics["prediction_seeded"]))
        if any(details):
            parts.append("<details><summary>Selectivity and pathways of the identified ReLN, and the prediction's start</summary>"
                         + "".join(details) + "</details>")
    parts.append(_figures(folder, name))
    return "<section>" + "".join(parts) + "</section>"


def _environment_note(env: dict) -> str:
    """One line on the software and machine a result came from (``config.json``'s environment).

    Args:
        env: the ``environment`` entry (:func:`reln.experiment.provenance.environment`).

    Returns:
        An HTML paragraph.
    """
    software = ", ".join(
        f"{name} {env[key]}" for name, key in (("Python", "python"), ("JAX", "jax"), ("NumPy", "numpy"),
                                              ("SciPy", "scipy"), ("scikit-learn", "scikit-learn"),
                                              ("matplotlib", "matplotlib")) if key in env
    )
    return html.escape(
        f"Made by reln {env.get('reln_version', '?')} (source {str(env.get('source_hash', '?'))[:12]}) with {software}, "
        f"on {env.get('cpu', '?')}, in {env.get('float_precision', '?')}."
    ).join(('<p class="note">', "</p>"))


def _overview(out: Path, names: Sequence[str]) -> str:
    """One row per experiment: the headline numbers, ours beside the reference implementation's."""
    rows = []
    for name in names:
        folder = out / name
        if not (folder / "metrics.json").is_file():
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        paper = json.loads((folder / "config.json").read_text()).get("paper") or {}
        relu, reln, theory = metrics.get("relu", {}), metrics.get("reln", {}), metrics.get("theory", {})
        replay, prediction = metrics.get("replay", {}), metrics.get("prediction", {})
        paper_gap = paper.get("ReLN", {}).get("gap_max")
        layers = relu.get("layers")
        mixed = (layers[-1]["selectivity"] if layers else relu.get("selectivity", {})).get("mixed")
        rows.append([
            name,
            _spread(relu.get("epoch_below", {}).get("0.5")),
            _paper_cell(paper.get("ReLU", {}).get("ep50")),
            _optional(theory.get("linear_phase", {}).get("epoch_below", {}).get("0.5")),
            _spread(reln.get("gap_to_relu", {}).get("max")),
            _spread(replay.get("gap_to_relu", {}).get("max")),
            _paper_cell(paper_gap),
            _spread(theory.get("gap_to_relu", {}).get("max")),
            _paper_cell(paper.get("closed-form theory", {}).get("gap_max")),
            _spread(prediction.get("gap_to_relu", {}).get("max")),
            _spread(mixed),
        ])
    if not rows:
        return ""
    return _table(
        "At a glance (ours: mean [min–max] over seeds; reference implementation: its range)",
        ["experiment", "ReLU ep(0.5)", "ref.", "ep(0.5) from the task alone (closed form)",
         "compact ReLN max gap", "replay max gap", "ref. hand-made ReLN",
         "theory max gap", "ref. closed form", "prediction (task alone) max gap", "ReLU mixed-selective share (last hidden layer)"],
        rows,
    )


MODEL_SENTENCES = {
    "relu": "the bias-free ReLU network, trained by gradient descent from small initial weights.",
    "reln": ("the compact ReLN: the ReLU's own initial units, gated per sample by their decoupled early flow "
             "(derived), then on whole contexts in 12 phases read from the ReLU, except item phases inside the "
             "rise of the linear item modes where units still serve every context, gated per sample by the "
             "units' own flow in the predicted error (derived); a unit that changes pathway "
             "carries its weights, and a closed unit slides on its kink where its own gradient says a ReLU "
             "unit would (docs/theory.md §5.3)."),
    "theory": ("the balanced flow of the compact schedule from effective balanced units (docs/theory.md §5.5)."),
    "replay": ("the ReLU's own per-sample gates replayed with sliding kinks held: a check that a ReLU network "
               "is a linear network with its own gates, not an explanation (docs/theory.md §5.4)."),
    "prediction": ("common plus all-but-one pathways from the task, width, init law and learning rate alone, "
                   "learning by the balanced flow from t = 0 (docs/theory.md §5.7)."),
    "prediction_seeded": ("each seed's initial units in the field of the task-only prediction's error, read by the compact "
                          "rule, integrated by the theory (docs/theory.md §5.8)."),
    "paper_reln": "the paper's hand-made ReLN, staged rule and hand-set scales (docs/theory.md §5.6).",
    "modular": "the strictly modular control: common pathway plus one pathway per context (docs/theory.md §5.6).",
}


def _models_section(out: Path, names: Sequence[str]) -> str:
    """One sentence per model that the experiments ran, and what it read from the ReLU run (taken
    from the first experiment that ran it)."""
    reads: dict[str, str] = {}
    for name in names:
        path = out / name / "metrics.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text())
        for model in MODEL_SENTENCES:
            if model in metrics and isinstance(metrics[model], dict) and model not in reads:
                reads[model] = describe_reads(metrics[model].get("reads_from_relu")) or "–"
    if not reads:
        return ""
    rows = [[model, MODEL_SENTENCES[model], reads[model]] for model in MODEL_SENTENCES if model in reads]
    return _table("The models, and what each read from the ReLU run (in its first experiment here)",
                  ["model", "what it is", "reads from the ReLU run"], rows)


def _optional(value) -> str:
    return "" if value is None else _number(value)


def _paper_cell(low_high) -> str:
    if not low_high:
        return ""
    return _number(low_high[0]) if low_high[0] == low_high[1] else f"{_number(low_high[0])}–{_number(low_high[1])}"


VERDICT_COLORS = {"holds": "#1a7f37", "partly": "#9a6700", "fails": "#cf222e", "not run": "#6e7781"}


def _claims_section(out: Path) -> str:
    """The page's first section: every claim of the paper, its verdict, the rule and the numbers
    (``claims.json``, :mod:`reln.experiment.claims`)."""
    path = out / "claims.json"
    if not path.is_file():
        return ""
    claims = json.loads(path.read_text())
    rows = []
    for c in claims:
        color = VERDICT_COLORS.get(c["verdict"], "#222")
        rows.append(
            f"<tr><td>{c['claim']}</td><td>{html.escape(c['title'])}</td>"
            f'<td style="color:{color};font-weight:600">{html.escape(c["verdict"])}</td>'
            f"<td>{html.escape(c['why'])}</td><td class=\"note\">{html.escape(c['rule'])}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("claim (docs/theory.md §1)", "statement", "verdict", "numbers", "rule"))
    return ('<h2 id="claims">The paper\'s claims, scored</h2><p class="note">Each verdict follows the rule beside it '
            "from this page's runs; every number behind it is in <a href=\"claims.json\">claims.json</a>.</p>"
            f'<table class="claims"><tr>{head}</tr>{"".join(rows)}</table>')


def _validity_section(out: Path) -> str:
    """Where the picture holds: the validity map's boundaries and figures (``validity/``)."""
    folder = out / "validity"
    path = folder / "validity.json"
    if not path.is_file():
        return ""
    summary = json.loads(path.read_text())
    rows = []
    for map_name, m in summary["maps"].items():
        for key, columns in m["boundaries"].items():
            for column, edge in columns.items():
                medians = ", ".join(f"{_value(v)}: {'failed' if x is None else _number(x)}" for v, x in edge["medians"])
                rows.append([map_name, key, column.split(".")[0], medians,
                             "none" if edge["first_past"] is None else _value(edge["first_past"])])
        if m["failed"]:
            rows.append([map_name, "failed runs", "", f"{len(m['failed'])} of {m['runs']}: {m['failed'][0]['status'][:80]}", ""])
    figures = []
    for map_name in summary["maps"]:
        for png in sorted((folder / map_name).glob("*.png")):
            figures.append(f'<figure><img src="validity/{html.escape(map_name)}/{html.escape(png.name)}" '
                           f'alt="{html.escape(map_name)} {html.escape(png.stem)}" loading="lazy">'
                           f"<figcaption>{html.escape(map_name)}: median max gap over seeds; outlined or above the dashed "
                           f"line: past {summary['level']:g} of L(0).</figcaption></figure>")
    table = _table(f"Median max gap to the ReLU over seeds along each key (the map's other keys at the base "
                   f"experiment's values), and the first value past {summary['level']:g}",
                   ["map", "key", "model", "medians", "first past"], rows)
    cost = "; ".join(
        f"{name}: {m['runs']} runs, {m['seconds'] / 60:.1f} min of task time"
        + (f", {m['wall_seconds_this_run'] / 60:.1f} min wall in its last invocation" if m.get("wall_seconds_this_run") else "")
        for name, m in summary["maps"].items())
    table += f'<p class="note">Cost: {html.escape(cost)}.</p>'
    return (f'<h2 id="validity">Where the picture holds: {html.escape(summary["base"])} beyond the paper\'s limits</h2>'
            '<p class="note">The compact ReLN and the theory against the ReLU network as the init scale, learning rate, '
            "batch size and width leave the paper's setting (docs/theory.md §9). The tables under validity/ hold "
            "every run and seed.</p>" + table + "".join(figures))


def _value(v) -> str:
    if isinstance(v, list):
        return "×".join(map(str, v))
    return _number(v) if isinstance(v, (int, float)) else str(v)


def report_page(out: Path, names: Sequence[str]) -> str:
    """The HTML of ``OUT/index.html`` for the experiments ``names`` written under ``out``."""
    out = Path(out)
    experiments = [n for n in names if n != "validity"]
    nav = "".join(f'<a href="#{html.escape(n)}">{html.escape(n)}</a>' for n in ["claims", *names])
    sections = "".join(_experiment_section(out, n) for n in experiments)
    sections += _validity_section(out) if "validity" in names else ""
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>reln: reproducing Make Haste Slowly</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>reln: reproducing <i>Make Haste Slowly</i></h1>"
        "<p>Jarvis, Klein, Rosman &amp; Saxe (ICLR 2025). Every experiment of the paper as a preset of "
        "<code>reln</code>, run over seeds: ReLU networks, the ReLN identified from each of them, the "
        "paper's hand-made ReLN and controls, with the reference implementation's numbers beside ours.</p>"
        f"<nav>{nav}</nav>{_claims_section(out)}{_overview(out, experiments)}{_models_section(out, experiments)}"
        f"{sections}</body></html>"
    )
