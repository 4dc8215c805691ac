"""Tests of reln.models.gdln: pathway GDLNs, exact padding and masking, and the training rules.

Reference computations are written out independently, pathway by pathway on the *unpadded*
weight blocks (``W_l[p, :width_out, :width_in]``) with explicit masks, following docs/theory.md §2
(path form) and §5 (the staged rule).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reln.errors import RelnError
from reln.models.pathways import Pathway, build_gdln, check_rule, init_gdln
from reln.models.gdln import gdln_forward, gdln_objective, pathway_maps, pathway_outputs, pathway_singular_values
from reln.tasks import contextual_task


def small_task():
    # 4 items, 3 contexts: n_in = 7, n_out = 7 * 4 = 28, P = 12.
    return contextual_task(4, 3, ["hierarchy", "ring", "cross"])


def mixed_setup(seed, depth=1):
    """The small task, the mixed GDLN on it, and its initial weights as JAX arrays (call inside x64)."""
    task = small_task()
    gdln = build_gdln(mixed_pathways(task, depth), task)
    return task, gdln, [jnp.asarray(w) for w in init_gdln(np.random.default_rng(seed), gdln)]


def mixed_pathways(task, depth=1):
    """Pathways of different widths, gates, input and output masks (``depth`` hidden layers)."""
    out_mask = np.zeros(task.n_out)
    out_mask[::3] = 1
    in_mask = np.zeros(task.n_in)
    in_mask[[0, 2, 5]] = 1
    widths = [(3, 2), (5, 4), (2, 5), (4, 1)]
    return [
        Pathway(hidden=widths[0][:depth], init_std=0.4, name="common"),
        Pathway(contexts=(0, 1), inputs="items", hidden=widths[1][:depth], init_std=0.4),
        Pathway(contexts=(2,), outputs=out_mask, hidden=widths[2][:depth], init_std=0.4),
        Pathway(gate=(np.arange(task.P) % 2).astype(float), inputs=in_mask, hidden=widths[3][:depth], init_std=0.4),
    ]


def reference_outputs(weights, gdln, X):
    """Per-pathway outputs from the unpadded blocks: diag(m_out) W_L..W_0 diag(m_in) X diag(g)."""
    weights = [np.asarray(w) for w in weights]
    outs = []
    for p in range(gdln.n_pathways):
        widths = list(gdln.widths[p])
        fan_in = [X.shape[0], *widths]
        fan_out = [*widths, gdln.output_masks.shape[1]]
        M = np.diag(gdln.input_masks[p])
        for W, fi, fo in zip(weights, fan_in, fan_out):
            M = W[p, :fo, :fi] @ M
        M = np.diag(gdln.output_masks[p]) @ M
        outs.append(M @ X * gdln.gates[p])
    return np.array(outs)


def reference_maps(weights, gdln, n_in):
    maps = []
    for p in range(gdln.n_pathways):
        widths = list(gdln.widths[p])
        M = np.diag(gdln.input_masks[p])
        for W, fi, fo in zip(weights, [n_in, *widths], [*widths, gdln.output_masks.shape[1]]):
            M = np.asarray(W)[p, :fo, :fi] @ M
        maps.append(np.diag(gdln.output_masks[p]) @ M)
    return np.array(maps)


def live_masks(gdln, n_in, n_out):
    """Independent 0/1 masks of the live weight entries of each stacked layer."""
    n_layers = gdln.widths.shape[1] + 1
    wmax = gdln.widths.max(axis=0)
    fan_in = [n_in, *wmax]
    fan_out = [*wmax, n_out]
    masks = []
    for l in range(n_layers):
        m = np.zeros((gdln.n_pathways, fan_out[l], fan_in[l]))
        for p in range(gdln.n_pathways):
            w = list(gdln.widths[p])
            rows = w[l] if l < n_layers - 1 else n_out
            cols = n_in if l == 0 else w[l - 1]
            m[p, :rows, :cols] = 1
            if l == 0:
                m[p] *= gdln.input_masks[p][None, :]
            if l == n_layers - 1:
                m[p] *= gdln.output_masks[p][:, None]
        masks.append(m)
    return masks


def gd_steps(weights, gdln, X, Y, rule, lr, steps):
    grad = jax.jit(jax.grad(lambda w: gdln_objective(w, gdln, X, Y, rule)[0]))
    for _ in range(steps):
        weights = [w - lr * g for w, g in zip(weights, grad(weights))]
    return weights


# ---------------------------------------------------------------------------------------------


def test_build_resolves_pathways():
    task = small_task()
    gdln = build_gdln(mixed_pathways(task), task)
    assert gdln.n_pathways == 4
    np.testing.assert_array_equal(gdln.gates[0], np.ones(task.P))
    np.testing.assert_array_equal(gdln.gates[1], np.repeat([1.0, 1.0, 0.0], 4))
    np.testing.assert_array_equal(gdln.gates[2], np.repeat([0.0, 0.0, 1.0], 4))
    np.testing.assert_array_equal(gdln.always_on, [True, False, False, False])
    np.testing.assert_array_equal(gdln.input_masks[1], np.r_[np.ones(4), np.zeros(3)])
    np.testing.assert_array_equal(gdln.widths[:, 0], [3, 5, 2, 4])
    assert gdln.contexts[:3] == ((0, 1, 2), (0, 1), (2,)) and gdln.contexts[3] is None
    assert gdln.inputs == ("all", "items", "all", "mask")
    assert gdln.names[0] == "common"


@pytest.mark.parametrize("depth", [1, 2])
def test_init_is_zero_exactly_off_the_live_entries(depth):
    task = small_task()
    gdln = build_gdln(mixed_pathways(task, depth), task)
    weights = init_gdln(np.random.default_rng(0), gdln)
    for W, live in zip(weights, live_masks(gdln, task.n_in, task.n_out)):
        assert W.shape == live.shape
        assert np.all(W[live == 0] == 0)
        assert np.all(W[live == 1] != 0)
        # Every block was drawn with std 0.4 (several hundred live entries in all).
        assert np.std(W[live == 1]) == pytest.approx(0.4, rel=0.2)


@pytest.mark.parametrize("depth", [1, 2])
def test_pathway_outputs_sum_to_forward_and_match_reference(depth):
    with jax.enable_x64(True):
        task, gdln, weights = mixed_setup(1, depth)
        X = jnp.asarray(task.X)
        per = np.asarray(pathway_outputs(weights, gdln, X))
        assert per.shape == (4, task.n_out, task.P)
        np.testing.assert_allclose(per, reference_outputs(weights, gdln, task.X), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(
            per.sum(axis=0), np.asarray(gdln_forward(weights, gdln, X)), rtol=1e-12, atol=1e-14
        )


def test_forward_over_a_subset_of_pathways():
    with jax.enable_x64(True):
        task, gdln, weights = mixed_setup(8)
        X = jnp.asarray(task.X)
        ref = reference_outputs(weights, gdln, task.X)
        for subset in ([0], [1, 3], [0, 2, 3]):
            got = np.asarray(gdln_forward(weights, gdln, X, pathways=np.array(subset)))
            np.testing.assert_allclose(got, ref[subset].sum(axis=0), rtol=1e-12, atol=1e-13)


def test_staged_equals_total_when_every_pathway_is_always_on():
    """With no gated pathway the rest is empty (outputs 0): the staged objective is
    1/2||Yhat - Y||^2 + 1/2||0 - (Y - sg(Yhat))||^2, twice the total loss in value but with the
    same gradient, and the recorded loss is the total loss."""
    with jax.enable_x64(True):
        task = small_task()
        gdln = build_gdln([Pathway(hidden=(3,), init_std=0.4), Pathway(hidden=(2,), init_std=0.4)], task)
        weights = [jnp.asarray(w) for w in init_gdln(np.random.default_rng(9), gdln)]
        X, Y = jnp.asarray(task.X), jnp.asarray(task.Y)
        staged_obj, staged_loss = gdln_objective(weights, gdln, X, Y, "staged")
        total_obj, total_loss = gdln_objective(weights, gdln, X, Y, "total")
        assert float(staged_obj) == pytest.approx(2 * float(total_obj), rel=1e-12)
        assert float(staged_loss) == pytest.approx(float(total_loss), rel=1e-12)
        g_staged = jax.grad(lambda w: gdln_objective(w, gdln, X, Y, "staged")[0])(weights)
        g_total = jax.grad(lambda w: gdln_objective(w, gdln, X, Y, "total")[0])(weights)
        for a, b in zip(g_staged, g_total):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


def test_gate_zeroes_outputs_on_closed_samples():
    with jax.enable_x64(True):
        task, gdln, weights = mixed_setup(2)
        per = np.asarray(pathway_outputs(weights, gdln, jnp.asarray(task.X)))
        for p in range(gdln.n_pathways):
            closed = gdln.gates[p] == 0
            assert np.all(per[p][:, closed] == 0)
            # Open samples with some unmasked input get a non-zero output (generic weights).
            sees_input = (gdln.input_masks[p] @ np.abs(task.X)) > 0
            assert np.all(np.abs(per[p][:, ~closed & sees_input]).sum(axis=0) > 0)
            assert np.all(per[p][:, ~sees_input] == 0)
        # Masked outputs are zero on every sample.
        assert np.all(per[2][gdln.output_masks[2] == 0] == 0)


@pytest.mark.parametrize("depth", [1, 2])
def test_pathway_maps_and_singular_values(depth):
    with jax.enable_x64(True):
        task, gdln, weights = mixed_setup(3, depth)
        maps = np.asarray(pathway_maps(weights, gdln))
        expected = reference_maps(weights, gdln, task.n_in)
        np.testing.assert_allclose(maps, expected, rtol=1e-12, atol=1e-14)
        # Linear per datapoint: each pathway's output is its map applied to the gated inputs.
        per = np.asarray(pathway_outputs(weights, gdln, jnp.asarray(task.X)))
        for p in range(gdln.n_pathways):
            np.testing.assert_allclose(per[p], expected[p] @ task.X * gdln.gates[p], atol=1e-13)
        sv = np.asarray(pathway_singular_values(weights, gdln))
        assert sv.shape == (4, min(task.n_out, task.n_in))
        for p in range(gdln.n_pathways):
            np.testing.assert_allclose(sv[p], np.linalg.svd(expected[p], compute_uv=False), rtol=1e-10, atol=1e-12)
            # Rank is at most the narrowest layer of the pathway and the mask sizes.
            rank_bound = min(*gdln.widths[p], gdln.input_masks[p].sum(), gdln.output_masks[p].sum())
            assert np.all(sv[p][int(rank_bound):] < 1e-12)


@pytest.mark.parametrize("rule", ["total", "staged"])
@pytest.mark.parametrize("depth", [1, 2])
def test_padding_and_masks_stay_exactly_zero_under_training(rule, depth):
    """Padded units and masked input columns / output rows get no gradient (THEORY: padding exact)."""
    with jax.enable_x64(True):
        task, gdln, weights = mixed_setup(4, depth)
        X, Y = jnp.asarray(task.X), jnp.asarray(task.Y)
        trained = gd_steps(weights, gdln, X, Y, rule, lr=0.02, steps=25)
        live = live_masks(gdln, task.n_in, task.n_out)
        moved = 0
        for W0, W, m in zip(weights, trained, live):
            W0, W = np.asarray(W0), np.asarray(W)
            assert np.all(W[m == 0] == 0.0)
            moved += np.sum(W[m == 1] != W0[m == 1])
        assert moved > 0.9 * sum(m.sum() for m in live)  # the live weights did train
        # And the trained output is still the sum of the unpadded pathways.
        np.testing.assert_allclose(
            np.asarray(gdln_forward(trained, gdln, X)),
            reference_outputs(trained, gdln, task.X).sum(axis=0),
            rtol=1e-11,
            atol=1e-12,
        )
        loss_before = gdln_objective(weights, gdln, X, Y, "total")[1]
        loss_after = gdln_objective(trained, gdln, X, Y, "total")[1]
        assert loss_after < loss_before


def _independent_losses(gdln, X, Y):
    """The staged rule's two losses written out from the unpadded blocks (docs/theory.md §7)."""
    base = np.flatnonzero(gdln.always_on)
    rest = np.flatnonzero(~gdln.always_on)
    widths = gdln.widths

    def outputs(weights, ps):
        total = 0.0
        for p in ps:
            w = list(widths[p])
            M = X * jnp.asarray(gdln.input_masks[p])[:, None]
            for W, fi, fo in zip(weights, [X.shape[0], *w], [*w, Y.shape[0]]):
                M = W[p, :fo, :fi] @ M
            total = total + M * jnp.asarray(gdln.output_masks[p])[:, None] * jnp.asarray(gdln.gates[p])
        return total

    def loss_base(weights):
        return 0.5 * jnp.sum((outputs(weights, base) - Y) ** 2)

    def loss_rest(weights, target):
        return 0.5 * jnp.sum((outputs(weights, rest) - target) ** 2)

    def loss_total(weights):
        return 0.5 * jnp.sum((outputs(weights, range(gdln.n_pathways)) - Y) ** 2)

    return outputs, base, rest, loss_base, loss_rest, loss_total


@pytest.mark.parametrize("depth", [1, 2])
def test_staged_rule_gradients(depth):
    """docs/theory.md §7: base pathways descend 1/2||Yhat_B - Y||^2, the rest descend
    1/2||Yhat_R - (Y - Yhat_B)||^2 with Yhat_B held fixed; the recorded loss is the total."""
    with jax.enable_x64(True):
        task = small_task()
        pathways = mixed_pathways(task, depth)
        pathways.insert(2, Pathway(hidden=(2, 3)[:depth], init_std=0.4, name="common 2"))
        gdln = build_gdln(pathways, task)
        assert gdln.always_on.sum() == 2
        weights = [jnp.asarray(w) for w in init_gdln(np.random.default_rng(5), gdln)]
        X, Y = jnp.asarray(task.X), jnp.asarray(task.Y)
        outputs, base, rest, loss_base, loss_rest, loss_total = _independent_losses(gdln, X, Y)

        objective, recorded = gdln_objective(weights, gdln, X, Y, "staged")
        assert float(recorded) == pytest.approx(float(loss_total(weights)), rel=1e-12)
        target = Y - outputs(weights, base)  # a constant: the stop-gradient
        assert float(objective) == pytest.approx(
            float(loss_base(weights) + loss_rest(weights, target)), rel=1e-12
        )

        staged = jax.jit(jax.grad(lambda w: gdln_objective(w, gdln, X, Y, "staged")[0]))(weights)
        g_base = jax.jit(jax.grad(loss_base))(weights)
        grad_rest = jax.jit(jax.grad(loss_rest))
        g_rest = grad_rest(weights, target)
        g_rest_on_y = grad_rest(weights, Y)
        g_total = jax.jit(jax.grad(loss_total))(weights)
        for G, Gb, Gr, Gt, Gy in zip(staged, g_base, g_rest, g_total, g_rest_on_y):
            G, Gb, Gr, Gt, Gy = (np.asarray(a) for a in (G, Gb, Gr, Gt, Gy))
            scale = np.abs(G).max()
            np.testing.assert_allclose(G[base], Gb[base], rtol=1e-10, atol=1e-12 * scale)
            np.testing.assert_allclose(G[rest], Gr[rest], rtol=1e-10, atol=1e-12 * scale)
            # Not vacuous: on the base pathways the staged gradient is not the total-loss one
            # (the base ignores the rest's output) ...
            assert np.abs(G[base] - Gt[base]).max() > 1e-3 * scale
            # ... while for the rest Yhat_R - (Y - Yhat_B) = Yhat - Y, so it is the total-loss one,
            # and not that of fitting Y alone.
            np.testing.assert_allclose(G[rest], Gt[rest], rtol=1e-10, atol=1e-12 * scale)
            assert np.abs(G[rest] - Gy[rest]).max() > 1e-3 * scale

        total = jax.grad(lambda w: gdln_objective(w, gdln, X, Y, "total")[0])(weights)
        for G, Gt in zip(total, g_total):
            np.testing.assert_allclose(np.asarray(G), np.asarray(Gt), rtol=1e-10, atol=1e-12 * np.abs(Gt).max())


@settings(max_examples=12)
@given(
    widths=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    seed=st.integers(0, 2**31 - 1),
    depth=st.sampled_from([1, 2]),
)
def test_forward_matches_reference_property(widths, seed, depth):
    """Random pathway sets (widths, contexts, masks): the stacked, padded forward equals the sum
    of the pathways computed one by one on their unpadded blocks."""
    with jax.enable_x64(True):
        task = contextual_task(4, 2, "hierarchy")
        rng = np.random.default_rng(seed)
        pathways = []
        for w in widths:
            kind = rng.integers(3)
            contexts = tuple(sorted(rng.choice(2, size=rng.integers(1, 3), replace=False).tolist()))
            pathways.append(
                Pathway(
                    contexts=contexts if kind == 0 else None,
                    gate=rng.integers(0, 2, task.P).astype(float) if kind == 1 else None,
                    inputs=["all", "items", rng.integers(0, 2, task.n_in).astype(float)][rng.integers(3)],
                    outputs=["all", rng.integers(0, 2, task.n_out).astype(float)][rng.integers(2)],
                    hidden=(w, int(rng.integers(1, 4)))[:depth],
                    init_std=0.5,
                )
            )
        gdln = build_gdln(pathways, task)
        weights = [jnp.asarray(w) for w in init_gdln(rng, gdln)]
        per = np.asarray(pathway_outputs(weights, gdln, jnp.asarray(task.X)))
        np.testing.assert_allclose(per, reference_outputs(weights, gdln, task.X), rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# Errors


def test_staged_needs_an_always_on_pathway():
    task = small_task()
    gdln = build_gdln([Pathway(contexts=(0, 1)), Pathway(contexts=(1, 2))], task)
    with pytest.raises(RelnError, match="staged"):
        check_rule("staged", gdln)
    check_rule("total", gdln)
    check_rule("staged", build_gdln([Pathway(), Pathway(contexts=(0,))], task))
    # An explicit all-ones gate counts as always on.
    check_rule("staged", build_gdln([Pathway(gate=np.ones(task.P)), Pathway(contexts=(0,))], task))


def test_unknown_rule():
    task = small_task()
    gdln = build_gdln([Pathway()], task)
    with pytest.raises(RelnError, match="sgd"):
        check_rule("sgd", gdln)
    with pytest.raises(RelnError, match="sgd"):
        gdln_objective(init_gdln(np.random.default_rng(0), gdln), gdln, task.X, task.Y, "sgd")


@pytest.mark.parametrize("gate_value", [0.5, 2.0, -1.0, np.nan])
def test_gate_must_be_zero_one(gate_value):
    task = small_task()
    gate = np.ones(task.P)
    gate[3] = gate_value
    with pytest.raises(RelnError, match="0/1"):
        build_gdln([Pathway(gate=gate)], task)


@pytest.mark.parametrize("length", [11, 13, 0])
def test_gate_length(length):
    task = small_task()
    with pytest.raises(RelnError, match=r"\(12,\)"):
        build_gdln([Pathway(gate=np.ones(length))], task)


@pytest.mark.parametrize("contexts", [(3,), (-1,), (0, 5), ()])
def test_contexts_out_of_range(contexts):
    task = small_task()
    with pytest.raises(RelnError, match="contexts"):
        build_gdln([Pathway(contexts=contexts)], task)


def test_mixed_depths():
    task = small_task()
    with pytest.raises(RelnError, match="hidden layers"):
        build_gdln([Pathway(hidden=(3,)), Pathway(hidden=(3, 3))], task)


def test_unknown_inputs_and_outputs_strings():
    task = small_task()
    with pytest.raises(RelnError, match="context"):
        build_gdln([Pathway(inputs="context")], task)
    with pytest.raises(RelnError, match="items"):
        build_gdln([Pathway(outputs="items")], task)


def test_bad_masks_widths_and_empty():
    task = small_task()
    with pytest.raises(RelnError, match="0/1"):
        build_gdln([Pathway(inputs=np.full(task.n_in, 0.5))], task)
    with pytest.raises(RelnError, match=r"\(28,\)"):
        build_gdln([Pathway(outputs=np.ones(5))], task)
    with pytest.raises(RelnError, match="hidden"):
        build_gdln([Pathway(hidden=(0,))], task)
    with pytest.raises(RelnError):
        build_gdln([], task)
    with pytest.raises(RelnError, match="init_std"):
        build_gdln([Pathway(hidden=(3,), init_std=(0.1, 0.1, 0.1))], task)


def test_pathway_init_does_not_depend_on_other_pathways():
    """Adding a wider pathway leaves the initial weights of the existing ones unchanged."""
    task = contextual_task(8, 3, "hierarchy")
    first = [Pathway(contexts=None, hidden=(5,), init_std=1.0), Pathway(contexts=(0,), hidden=(3,), init_std=2.0)]
    small = init_gdln(np.random.default_rng(7), build_gdln(first, task))
    wider = init_gdln(
        np.random.default_rng(7), build_gdln([*first, Pathway(contexts=(1, 2), hidden=(40,), init_std=3.0)], task)
    )
    for layer_small, layer_wide in zip(small, wider):
        for p in range(2):
            rows, cols = layer_small[p].shape
            np.testing.assert_array_equal(layer_small[p], layer_wide[p][:rows, :cols])
            assert not layer_wide[p][rows:, :].any() and not layer_wide[p][:, cols:].any()


def test_gate_and_contexts_together_are_rejected():
    task = contextual_task(8, 3, "hierarchy")
    with pytest.raises(RelnError, match="both a gate and contexts"):
        build_gdln([Pathway(contexts=(0,), gate=np.ones(task.P))], task)
