"""Every policy's declaration (bandits.policies.registry) says the truth about the policy it builds.

The declaration is read by validation, the engine and the ``screentest`` configs instead of the
policy, so each claim is checked against a built policy: the hyperparameter class, the rules
(defaults inside them), the aliases, the traits (context free: decisions do not depend on the
context; slate: ``(L,)`` actions and ``(K, L)`` probabilities), and what the policy needs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bandits import validation as V
from bandits.policies import REGISTRY, make, register
from bandits.policies.registry import NEEDS, TRAITS, PolicyDecl

K, D = 5, 3
NAMES = sorted(REGISTRY)
PLAIN = [n for n in NAMES if "wrapper" not in REGISTRY[n].traits]


# small Monte Carlo sample counts: these tests run the policies eagerly, and the counts are static
# options that do not change what a declaration claims
SMALL_MC = {"n_mc": 8, "num_samples": 8}


def _build(name: str, context_dim: int = D, len_list: int | None = None, **kw):
    decl = REGISTRY[name]
    kw = {**{k: v for k, v in SMALL_MC.items() if decl.takes(k)}, **kw}
    traits, _ = decl.effective()
    if "slate" in traits:
        kw["len_list"] = len_list if len_list is not None else 2
    return make(name, num_actions=K, context_dim=1 if decl.context_free else context_dim, **kw)


def _decide(policy, state, x, key=0):
    mask = jnp.ones((K,), bool)
    return jax.jit(policy.select)(jax.random.key(key), state, jnp.asarray(x, jnp.float32), mask,
                                  policy.default_hparams)


@pytest.mark.parametrize("name", NAMES)
def test_declaration_matches_the_built_policy(name):
    decl = REGISTRY[name]
    assert isinstance(decl, PolicyDecl) and decl.name == name
    assert decl.traits <= set(TRAITS) and set(decl.needs) <= set(NEEDS)
    pol = _build(name)
    assert pol.name == name
    fields = type(pol.default_hparams)._fields
    if decl.hparams is not None:
        assert type(pol.default_hparams) is decl.hparams
    assert decl.hparam_names() == fields
    # every rule names a field and the built defaults satisfy it
    rules = decl.hparam_rules()
    assert set(rules) <= set(fields)
    V.check_hparam_values(name, pol.default_hparams._asdict(), rules=rules)
    # aliases and CLI presets name real hyperparameters, and the presets are valid values
    assert set(decl.aliases.values()) <= set(fields)
    names = decl.config_names()
    assert set(names.values()) == set(fields)
    for c, v in decl.cli_defaults.items():
        V.check_hparam_values(name, {names[c]: v}, rules=rules)
    for need in decl.needs:
        assert decl.takes(need), f"{name} needs {need} but its constructor does not name it"


@pytest.mark.parametrize("name", [n for n in PLAIN if REGISTRY[n].context_free])
def test_context_free_policies_ignore_the_context(name):
    pol = _build(name)
    assert pol.context_dim == 1
    state = pol.init(jax.random.key(0), pol.default_hparams)
    for t, (x, r) in enumerate([(-3.0, 1.0), (2.0, 0.0), (0.5, 1.0)]):
        dec = _decide(pol, state, [x], key=t)
        state = pol.update(state, jnp.asarray([x], jnp.float32), dec.action, jnp.ones_like(dec.action, jnp.float32) * r,
                           pol.default_hparams)
    a, b = _decide(pol, state, [-7.0], key=9), _decide(pol, state, [11.0], key=9)
    np.testing.assert_array_equal(np.asarray(a.probs), np.asarray(b.probs))
    np.testing.assert_array_equal(np.asarray(a.action), np.asarray(b.action))


@pytest.mark.parametrize("name", [n for n in PLAIN if not REGISTRY[n].context_free])
def test_contextual_policies_use_the_context(name):
    """After learning that action 0 pays for x = e_0 and action 1 for x = e_1, the decision
    differs between the two contexts (a context-free policy could not tell them apart)."""
    # the neural policies' defaults are sized for thousands of rounds (a small Adam step, a wide
    # bonus for untried arms); these tests play twelve
    pol = _build(name, **{"neural_ucb": {"lr": 0.1}, "neural_linear_ucb": {"alpha": 0.1}}.get(name, {}))
    state = pol.init(jax.random.key(0), pol.default_hparams)
    e = np.eye(D, dtype=np.float32)
    slate = pol.len_list > 1
    for t in range(6):
        i = t % 2
        if slate:  # action i in the first slot is clicked, the rest are not
            a = np.array([i, 1 - i, *range(2, pol.len_list)], np.int32)
            r = np.eye(pol.len_list, dtype=np.float32)[0]
        else:
            if name.startswith("neural"):  # a network has no prior pulling untried outputs to 0: show it
                state = pol.update(state, jnp.asarray(e[i]), jnp.int32(1 - i), jnp.float32(0.0),
                                   pol.default_hparams)
            a, r = np.int32(i), np.float32(1.0)
        state = pol.update(state, jnp.asarray(e[i]), jnp.asarray(a), jnp.asarray(r), pol.default_hparams)
    p0 = np.asarray(_decide(pol, state, e[0], key=3).probs)
    p1 = np.asarray(_decide(pol, state, e[1], key=3).probs)
    assert not np.allclose(p0, p1, atol=1e-6), (p0, p1)


@pytest.mark.parametrize("name", [n for n in PLAIN if "slate" in REGISTRY[n].traits])
def test_slate_policies_fill_len_list_slots(name):
    decl = REGISTRY[name]
    for L in (1, 2):
        if not decl.supports_len_list(L):
            continue
        pol = _build(name, len_list=L)
        assert pol.len_list == L
        dec = _decide(pol, pol.init(jax.random.key(0), pol.default_hparams), np.ones(pol.context_dim))
        assert np.shape(dec.action) == (() if L == 1 else (L,))
        assert np.shape(dec.probs) == ((K,) if L == 1 else (K, L))
    assert not decl.supports_len_list(1) or "single_slot" in decl.traits


def test_single_slot_policies_refuse_slates_and_wrappers_take_their_base_traits():
    assert REGISTRY["linucb"].supports_len_list(1) and not REGISTRY["linucb"].supports_len_list(3)
    assert not REGISTRY["slate_linucb"].supports_len_list(1) and REGISTRY["slate_linucb"].supports_len_list(3)
    assert REGISTRY["bts"].supports_len_list(1) and REGISTRY["bts"].supports_len_list(3)
    batched = REGISTRY["batched"]
    assert batched.effective({"base": "ucb1"})[0] == {"context_free"}
    assert batched.effective({"base": "slate_lints"})[0] == {"slate"}
    assert batched.hparam_names({"base": "linucb"}) == ("alpha", "lam", "update_every")
    assert set(batched.hparam_rules({"base": "linucb"})) == {"alpha", "lam", "update_every"}


def test_register_refuses_inconsistent_declarations():
    from typing import NamedTuple

    class HP(NamedTuple):
        a: float = 1.0

    def ctor(num_actions, context_dim=1, dtype=jnp.float32):  # pragma: no cover - never built
        raise AssertionError

    with pytest.raises(ValueError, match=r"traits: expected some of .* got unknown \['fast'\]"):
        register("tmp_bad", hparams=HP, traits=("fast",))(ctor)
    with pytest.raises(ValueError, match=r"rules: \['b'\] are not fields of HP"):
        register("tmp_bad", hparams=HP, rules={"b": V.POSITIVE})(ctor)
    with pytest.raises(ValueError, match=r"aliases: \['c'\] are not fields"):
        register("tmp_bad", hparams=HP, aliases={"alpha": "c"})(ctor)
    with pytest.raises(TypeError, match=r"rules\['a'\]: expected a rule with ok\(\) and describe\(\)"):
        register("tmp_bad", hparams=HP, rules={"a": (0, 1)})(ctor)
    with pytest.raises(ValueError, match=r"hparams: expected the hyperparameter NamedTuple class"):
        register("tmp_bad")(ctor)
    with pytest.raises(ValueError, match=r"policy name 'linucb' registered twice"):
        register("linucb", hparams=HP)(ctor)
    assert "tmp_bad" not in REGISTRY


def test_validation_reads_the_rules_from_the_declaration():
    """The only place a range is written is the declaration: validate_hparams and the wrapped
    names use it (a wrapper checks its base's hyperparameters too)."""
    assert V.hparam_rules("linucb") == dict(REGISTRY["linucb"].rules)
    pol = make("batched", num_actions=3, context_dim=2, base="linucb")
    V.validate_hparams(pol, pol.default_hparams)
    with pytest.raises(ValueError, match=r"hparams.update_every: policy 'batched' expects a finite value in \[1.0, inf\]"):
        V.validate_hparams(pol, pol.hparams(update_every=0.5))
    from bandits.policies.wrappers import batched

    wrapped = batched(make("linucb", num_actions=3, context_dim=2), update_every=3)
    assert wrapped.name == "batched(linucb)"
    with pytest.raises(ValueError, match=r"hparams.alpha: policy 'batched\(linucb\)' expects a finite value in \[0.0, inf\]"):
        V.validate_hparams(wrapped, wrapped.hparams(alpha=-1.0))
