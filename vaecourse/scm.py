"""Structural causal models: sampling, do() interventions and counterfactuals.  [pearl2009, Sec. 7.1]

A causal model is an ordered triple <eps, X, F> [slides, "Structural Causal model"]: exogenous
variables eps (noise, determined outside the model), endogenous variables X, and structural
equations F, one per endogenous variable, x_i = f_i(x_pa(i), eps_i).

- ``SCM.sample``          draw eps, then evaluate the equations in topological order (observational).
- ``SCM.do``              replace equations by constants: the edges into those variables are cut.
- ``SCM.counterfactual``  Pearl's three steps: abduction (recover eps from an observation), action
                          (do), prediction (re-evaluate the equations with the abducted eps).

The linear-Gaussian SCM of CausalVAE's causal layer [yang2021, Eq. 1; slides, Eq. 27-28]:
    z = A^T z + eps = (I - A^T)^{-1} eps,   eps ~ N(0, diag s^2),
with A[i, j] != 0 meaning an edge i -> j (A's column j holds the parents of j). Its covariance is
C diag(s^2) C^T with C = (I - A^T)^{-1}. Linear-Gaussian data identify the graph only up to its
Markov equivalence class [slides, remark under Eq. 28]: :func:`linear_scm_from_covariance` builds, for
any ordering of the variables, a linear SCM with exactly the same covariance (so the same Gaussian
distribution); for a chain the reversed chain fits as well, for a collider any ordering that puts the
collider first needs an extra edge.

Shape letters: n samples, K variables. Values of one variable are tensors of shape (n,).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from vaecourse import values as kinds

Values = dict[str, Tensor]  # variable name -> (n,)


def _is_finite_number(value) -> bool:
    """A real number that is finite (not a bool, not a string, not NaN or inf)."""
    try:
        return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating)) \
            and bool(np.isfinite(value))
    except OverflowError:  # an int beyond float
        return False


# ---------------------------------------------------------------------------------------------- graphs
def check_adjacency(A, n: int | None = None, *, name: str = "A") -> Tensor:
    """``A`` as a float tensor (K, K), or a ValueError saying what was expected and what came. A floating tensor or
    array keeps its dtype; lists, integer and boolean matrices (True: an edge) are read in torch's default dtype."""
    given = A
    kinds.text.check("check_adjacency's name", name)
    A = _ADJACENCY.check(name, _edges_as_numbers(A))
    floating = given.is_floating_point() if isinstance(given, Tensor) else \
        isinstance(given, np.ndarray) and given.dtype.kind == "f"
    if not floating:
        A = A.to(torch.get_default_dtype())
    if n is not None and A.shape[0] != kinds.non_negative_int.check("check_adjacency's n", n):
        raise ValueError(f"{name} must be ({n}, {n}) for {n} variables, got shape {tuple(A.shape)}")
    return A


def _edges_as_numbers(A):
    """A boolean graph (a mask, True: edge i -> j; a tensor, an array or nested lists) as 0/1 in torch's default
    dtype; anything else as it came."""
    if isinstance(A, Tensor) and A.dtype == torch.bool:
        return A.to(torch.get_default_dtype())
    if isinstance(A, (np.ndarray, list, tuple)):
        try:
            array = np.asarray(A)
        except (TypeError, ValueError):  # ragged lists: refused by _ADJACENCY in its words
            return A
        if array.dtype == np.bool_:
            return torch.from_numpy(array).to(torch.get_default_dtype())
    return A


_ADJACENCY = kinds.numbers(f"a square (K, K) adjacency matrix of finite numbers at most {kinds.MAX_WEIGHT:g} in size, "
                           "K >= 1 (A[i, j] != 0: edge i -> j)",
                           lambda t: t.dim() == 2 and 1 <= t.shape[0] == t.shape[1] <= kinds.MAX_UNITS
                           and bool((t.abs() <= kinds.MAX_WEIGHT).all()))  # 1e20 weights: (I - A^T)^-1 overflowed
_NAME = kinds.Kind("a variable name (a non-empty string)", lambda v: isinstance(v, str) and v != "")
_RANGE = kinds.sequence(f"a range (lo, hi) of two finite numbers at most {kinds.MAX_WEIGHT:g} in size with lo <= hi",
                        lambda v: len(v) == 2 and all(_is_finite_number(x) and abs(float(x)) <= kinds.MAX_WEIGHT
                                                      for x in v) and float(v[0]) <= float(v[1]))  # as do() values
_VALUES = kinds.numbers(f"finite real numbers (not a bool) at most {kinds.MAX_WEIGHT:g} in size: one number, or one "
                        "value per sample (n,)", lambda t: t.dim() <= 1 and bool((t.abs() <= kinds.MAX_WEIGHT).all()))
_DO_VALUE = kinds.real("a finite number (a do() value)", lambda v: True, kinds.MAX_WEIGHT,
                       "as every do() value: 1e30 through weights of 1e6 gave inf")  # linear_sample, linear_intervene
_DRAWS = kinds.draws
_STD = kinds.real("a noise standard deviation >= 0", lambda v: v >= 0, kinds.MAX_WEIGHT, kinds.WEIGHT_LIMIT)
_CALLABLE_OR_NONE = kinds.function.or_none()


def topological_order(A) -> list[int]:
    """An order of the nodes in which every parent comes before its children (Kahn's algorithm).

    Raises ValueError naming a cycle when the graph (edges where A != 0) is not acyclic.
    """
    A = check_adjacency(A)
    adj = (A != 0).cpu()
    k = adj.shape[0]
    indegree = adj.sum(0).tolist()
    children: list[list[int]] = [[] for _ in range(k)]
    for i, j in adj.nonzero().tolist():  # the edges once, in index order (not k^2 tensor reads: 2,000 nodes took 22 s)
        children[i].append(j)
    ready = collections.deque(i for i in range(k) if indegree[i] == 0)
    order: list[int] = []
    while ready:
        i = ready.popleft()
        order.append(i)
        for j in children[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    if len(order) < k:
        placed = set(order)
        left = [i for i in range(k) if i not in placed]
        raise ValueError(f"the graph has a cycle through nodes {left}: a structural causal model needs a DAG "
                         "(directed acyclic graph)")
    return order


def is_dag(A) -> bool:
    """True when the edges A != 0 form a directed acyclic graph (self-loops count as cycles)."""
    A = check_adjacency(A)
    try:
        topological_order(A)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------ the SCM
@dataclass(frozen=True)
class Equation:
    """x = f(parents, eps): ``f(values_of_parents: dict[name, (n,)], eps: (n,)) -> (n,)``.

    ``noise(n, generator) -> (n,)`` draws eps (standard normal by default, ``scale`` times).
    ``abduct(values_of_parents, x) -> eps`` recovers the noise from an observation; by default the
    equation is taken to be additive, x = f(pa, 0) + eps, so eps = x - f(pa, 0).
    """

    parents: tuple[str, ...]
    f: Callable[[Values, Tensor], Tensor]
    scale: float = 1.0
    noise: Callable[[int, torch.Generator | None], Tensor] | None = None
    abduct: Callable[[Values, Tensor], Tensor] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.parents, str) or not isinstance(self.parents, (tuple, list)) \
                or not all(isinstance(p, str) and p for p in self.parents) or len(set(self.parents)) != len(self.parents):
            raise ValueError(f"Equation's parents must be a tuple of distinct variable names, got "
                             f"{kinds.shown(self.parents)}")
        object.__setattr__(self, "parents", tuple(self.parents))
        kinds.function.check("Equation's f", self.f)
        _STD.check("Equation's scale", self.scale)
        _CALLABLE_OR_NONE.check("Equation's noise", self.noise)
        _CALLABLE_OR_NONE.check("Equation's abduct", self.abduct)

    def draw(self, n: int, generator: torch.Generator | None) -> Tensor:
        """eps (n,) for n samples, from ``noise`` (checked: n finite values) or scale * N(0, 1)."""
        n = _DRAWS.check("Equation.draw's n", n)
        generator = kinds.generator.or_none().check("Equation.draw's generator", generator)
        if self.noise is not None:
            return _output("Equation's noise(n, generator)", self.noise(n, generator), n)
        return self.scale * torch.randn(n, generator=generator, dtype=torch.get_default_dtype())

    def recover(self, parents: Values, x: Tensor) -> Tensor:
        """eps (n,) that reproduces the observation x (n,) given the parents' values (checked: n finite values)."""
        if self.abduct is not None:
            return _output("Equation's abduct(parents, x)", self.abduct(parents, x), len(x))
        return x - _output("Equation's f(parents, 0)", self.f(parents, torch.zeros_like(x)), len(x))


def _output(what: str, value, n: int) -> Tensor:
    """What a user's function returned: n finite values (n,), or a ValueError naming the function."""
    if not isinstance(value, Tensor) or value.shape != (n,) or value.dtype == torch.bool or value.is_complex() \
            or not value.is_floating_point() or not bool(torch.isfinite(value).all()):
        raise ValueError(f"{what} must return {n} finite values, a floating tensor of shape ({n},), got "
                         f"{kinds.shown(value)}")
    return value


def constant(value: float | Tensor) -> Equation:
    """The equation do(x = value) puts in place: no parents, no noise."""
    # the kind of do()'s values: 1e30 was installed
    value = _VALUES.check("constant's value", value).to(torch.get_default_dtype())

    def f(_parents: Values, eps: Tensor) -> Tensor:
        return value.expand_as(eps).clone() if value.dim() == 0 else value.clone()

    return Equation(parents=(), f=f, scale=0.0, abduct=lambda _p, x: torch.zeros_like(x))


class SCM:
    """A structural causal model <eps, X, F>: one :class:`Equation` per endogenous variable.

    >>> scm = SCM({"x": Equation((), lambda pa, e: e), "y": Equation(("x",), lambda pa, e: 2 * pa["x"] + e)})
    >>> scm.names, scm.graph().tolist()
    (('x', 'y'), [[0.0, 1.0], [0.0, 0.0]])
    """

    def __init__(self, equations: Mapping[str, Equation], ranges: Mapping[str, tuple[float, float]] | None = None):
        equations = kinds.mapping.check("SCM's equations (variable name -> Equation)", equations)
        if not equations:
            raise ValueError("an SCM needs at least one equation in equations, got an empty mapping")
        for name, eq in equations.items():
            _NAME.check("SCM's variable name", name)
            kinds.instance("an Equation", Equation).check(f"SCM's equations[{name!r}]", eq)
        self.equations: dict[str, Equation] = dict(equations)
        ranges = kinds.mapping.or_none().check("SCM's ranges (variable name -> (lo, hi))", ranges)
        self.ranges = {}
        for name, pair in (ranges or {}).items():
            if name not in self.equations:
                raise ValueError(f"SCM's ranges name an unknown variable {name!r}: expected one of "
                                 f"{tuple(self.equations)}")
            lo, hi = _RANGE.check(f"SCM's ranges[{name!r}]", pair)
            self.ranges[name] = (float(lo), float(hi))
        names = tuple(self.equations)
        for name, eq in self.equations.items():
            for parent in eq.parents:
                if parent not in self.equations:
                    raise ValueError(f"the equation of {name!r} names an unknown parent {parent!r}; "
                                     f"variables are {names}")
        self.names = names
        self.order = [names[i] for i in topological_order(self.graph())]  # refuses cyclic graphs

    def graph(self) -> Tensor:
        """The adjacency matrix (K, K) in ``self.names`` order: A[i, j] = 1 for an edge i -> j."""
        index = {name: i for i, name in enumerate(self.equations)}
        A = torch.zeros(len(index), len(index))
        for name, eq in self.equations.items():
            for parent in eq.parents:
                A[index[parent], index[name]] = 1.0
        return A

    def parents(self, name: str) -> tuple[str, ...]:
        return self.equations[self._known(name)].parents

    def _known(self, name: str) -> str:
        if not isinstance(name, str) or name not in self.equations:
            raise ValueError(f"unknown variable {kinds.shown(name)}: this SCM has {self.names}")
        return name

    def _check_values(self, values: Mapping[str, float | Tensor], what: str) -> dict[str, Tensor]:
        out = {}
        for name, value in values.items():
            self._known(name)
            value = _VALUES.check(f"{what} {name}", value)
            if name in self.ranges:
                lo, hi = self.ranges[name]
                if bool((value < lo).any() or (value > hi).any()):
                    raise ValueError(f"{what} {name} = {value.min().item():.4g}..{value.max().item():.4g} is outside "
                                     f"its range [{lo:.4g}, {hi:.4g}]")
            out[name] = value
        return out

    # ---- observational and interventional sampling ----------------------------------------------
    def evaluate(self, eps: Mapping[str, Tensor]) -> Values:
        """Evaluate the equations in topological order for given exogenous values (each (n,))."""
        eps = self._observed(eps, "evaluate's eps")
        n = len(next(iter(eps.values())))
        values: Values = {}
        for name in self.order:
            eq = self.equations[name]
            values[name] = _output(f"the equation of {name!r}", eq.f({p: values[p] for p in eq.parents}, eps[name]), n)
        return {name: values[name] for name in self.names}

    def _observed(self, given, what: str) -> Values:
        """One (n,) tensor of finite numbers per variable, all of the same n, or a ValueError naming ``what``."""
        given = kinds.mapping.check(f"{what} (variable name -> (n,) values)", given)
        for name in given:
            self._known(name)
        missing = [name for name in self.names if name not in given]
        if missing:
            raise ValueError(f"{what} must give every variable {self.names}, got none for {missing}")
        out = {name: kinds.numbers("finite real numbers of shape (n,)", lambda t: t.dim() == 1).check(
            f"{what}[{name!r}]", given[name]) for name in self.names}
        lengths = {name: len(v) for name, v in out.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{what} must give the same number n of values for every variable, got lengths {lengths}")
        return out

    def _interventions(self, interventions, n: int, what: str) -> dict[str, Tensor]:
        """do() values for n units: one number or n of them per variable, checked."""
        interventions = kinds.mapping.or_none().check(f"{what} (variable name -> value)", interventions) or {}
        values = self._check_values(interventions, what)
        for name, value in values.items():
            if value.dim() == 1 and len(value) != n:
                raise ValueError(f"{what} {name} must be one number or {n} values (one per sample), got "
                                 f"{len(value)} values")
        return values

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Values:
        """Draw the exogenous variables eps: one (n,) tensor per endogenous variable."""
        n = kinds.draws.check("n", n)
        generator = kinds.generator.or_none().check("generator", generator)
        return {name: self.equations[name].draw(n, generator) for name in self.names}

    def sample(self, n: int, generator: torch.Generator | None = None,
               interventions: Mapping[str, float | Tensor] | None = None) -> Values:
        """n joint samples of X (observational, or under ``do(interventions)``)."""
        n = _DRAWS.check("n", n)
        generator = kinds.generator.or_none().check("generator", generator)
        interventions = self._interventions(interventions, n, "sample's interventions")
        scm = self.do(**interventions) if interventions else self
        return scm.evaluate(scm.sample_noise(n, generator))

    def do(self, **values: float | Tensor) -> "SCM":
        """The intervened model do(x_i = v_i, ...): each named equation becomes the constant v_i, so the
        edges into x_i are cut while the rest of F is unchanged.  [pearl2009, Def. 7.1.2]"""
        values = self._check_values(values, "do()")
        equations = dict(self.equations)
        for name, value in values.items():
            equations[name] = constant(value)
        return type(self)._rebuild(self, equations)

    @classmethod
    def _rebuild(cls, template: "SCM", equations: Mapping[str, Equation]) -> "SCM":
        return SCM(equations, template.ranges)

    # ---- counterfactuals -------------------------------------------------------------------------
    def abduct(self, observation: Mapping[str, Tensor]) -> Values:
        """Step 1, abduction: the exogenous eps that reproduce a full observation of X."""
        obs = self._observed(observation, "abduct's observation")
        return {name: self.equations[name].recover({p: obs[p] for p in self.equations[name].parents}, obs[name])
                for name in self.names}

    def counterfactual(self, observation: Mapping[str, Tensor], **interventions: float | Tensor) -> Values:
        """What X would have been, had do(interventions) held, for the units observed in ``observation``.

        abduction (eps from the observation) -> action (do) -> prediction (evaluate with that eps).
        [pearl2009, Thm. 7.1.7]
        """
        eps = self.abduct(observation)
        n = len(next(iter(eps.values())))
        return self.do(**self._interventions(interventions, n, "counterfactual's do()")).evaluate(eps)


# ------------------------------------------------------------------------------------ linear-Gaussian
_INVERTIBLE = ("an A whose I - A^T is invertible (z = A^T z + eps then has one solution), got one that makes it "
               "singular (a cycle whose weights multiply to 1)")


def causal_matrix(A) -> Tensor:
    """C = (I - A^T)^{-1}, so that z = C eps solves z = A^T z + eps.  [slides, Eq. 27]"""
    return _causal_matrix(A, "causal_matrix")[0]


def _causal_matrix(A, who: str) -> tuple[Tensor, Tensor]:
    """(C, the checked A): :func:`causal_matrix`, a refusal naming ``who``."""
    A = check_adjacency(A)
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    C, info = torch.linalg.inv_ex(eye - A.T)
    if int(info) != 0:
        _not_solved(who, A)
    return _finite_result(who, C, A), A


def _not_solved(who: str, A: Tensor) -> None:
    """The ValueError for a system I - A^T that torch could not solve: singular (a cycle), or, on a DAG (whose
    I - A^T is triangular with unit diagonal, never singular), weights whose products overflow."""
    if is_dag(A):
        raise _overflowed(who, A, A.dtype)
    raise ValueError(f"{who} needs {_INVERTIBLE}")


def _overflowed(who: str, A: Tensor, dtype: torch.dtype) -> ValueError:
    """The refusal of an A whose path products overflow ``dtype``: weights multiply along a path (a chain of 1e6
    weights passes float32's 3.4e38 after seven edges), so finite weights and noise can still give inf or NaN."""
    return ValueError(f"{who}'s A must have weights whose products along its paths stay finite in {dtype}, got "
                      f"weights up to {float(A.abs().max()):.3g} that give inf or NaN")


def _finite_result(who: str, result: Tensor, A: Tensor) -> Tensor:
    """``result`` if finite; else :func:`_overflowed`'s ValueError naming A."""
    if not bool(torch.isfinite(result).all()):
        raise _overflowed(who, A, result.dtype)
    return result


def linear_solve(A, eps: Tensor) -> Tensor:
    """z = (I - A^T)^{-1} eps for a batch eps (n, K) -> (n, K).  [slides, Eq. 27-28]

    Row by row z_n = C eps_n, i.e. Z = E C^T; solved, not inverted.
    """
    A = check_adjacency(A)
    eps = _eps(eps, A)
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    z, info = torch.linalg.solve_ex(eye - A.T, eps.T.to(A.dtype))
    if int(info) != 0:
        _not_solved("linear_solve", A)
    return _finite_result("linear_solve", z.T, A)


def linear_sample(A, eps: Tensor, interventions: Mapping[int, float] | None = None) -> Tensor:
    """Evaluate x_j = sum_i A[i, j] x_i + eps_j parents first, with do(x_j = v) for j in ``interventions``:
    (n, K). The intervened equations are replaced by constants (their parents and noise are ignored); each v is a
    finite number at most ``MAX_WEIGHT`` in size, as every do() value of the course."""
    A = check_adjacency(A)
    eps = _eps(eps, A)
    interventions = {_variable(j, A, "linear_sample's interventions key"): _DO_VALUE.check(f"linear_sample's interventions[{j!r}]", v)
                     for j, v in dict(kinds.mapping.or_none().check(
                         "linear_sample's interventions (variable index -> value)", interventions) or {}).items()}
    x = torch.zeros_like(eps, dtype=A.dtype)
    for j in topological_order(A):
        x[:, j] = float(interventions[j]) if j in interventions else x @ A[:, j] + eps[:, j]
    return _finite_result("linear_sample", x, A)


def linear_intervene(A, eps: Tensor, index: int, value: float) -> Tensor:
    """z under do(z_index = value) for the linear SCM z = A^T z + eps with the units' noise eps (n, K):
    cut the edges into ``index``, fix it, and solve: a counterfactual when eps was abducted."""
    A = check_adjacency(A).clone()
    index = _variable(index, A)
    value = _DO_VALUE.check("linear_intervene's value", value)  # (by its name: 1e30 was blamed on eps)
    A[:, index] = 0  # action: no parents any more
    eps = _eps(eps, A).clone().to(A.dtype)
    eps[:, index] = value  # ... and its equation is the constant
    return linear_solve(A, eps)


def linear_covariance(A, scale: float | Sequence[float] | Tensor = 1.0) -> Tensor:
    """Cov(z) = C diag(s^2) C^T for z = A^T z + eps, eps ~ N(0, diag s^2)."""
    C, A = _causal_matrix(A, "linear_covariance")
    s = _scales(scale, C.shape[0]).to(C.dtype)
    return _finite_result("linear_covariance", C @ torch.diag(s ** 2) @ C.T, A)


def linear_scm(A, names: Sequence[str] | None = None, scale: float | Sequence[float] = 1.0) -> SCM:
    """The SCM x_j = sum_i A[i, j] x_i + eps_j, eps_j ~ N(0, s_j^2). A must be a DAG."""
    A = check_adjacency(A)
    k = A.shape[0]
    names = kinds.sequence(f"{k} distinct variable names (non-empty strings), one per row of A", lambda v: len(v) == k
                           and all(isinstance(x, str) and x for x in v) and len(set(v)) == k).or_none().check(
        "linear_scm's names", names)
    names = names if names is not None else tuple(f"x{i + 1}" for i in range(k))
    scales = _scales(scale, k).tolist()
    equations = {}
    for j, name in enumerate(names):
        parents = tuple(names[i] for i in range(k) if A[i, j] != 0)
        weights = {names[i]: float(A[i, j]) for i in range(k) if A[i, j] != 0}

        def f(pa: Values, eps: Tensor, weights=weights) -> Tensor:
            return eps + sum((w * pa[p] for p, w in weights.items()), torch.zeros_like(eps))

        equations[name] = Equation(parents=parents, f=f, scale=scales[j])
    return SCM(equations)


def _eps(eps, A: Tensor) -> Tensor:
    k = A.shape[0]
    return kinds.numbers(f"finite noise of shape (n, {k}), one column per variable of A, at most "
                         f"{kinds.MAX_WEIGHT:g} in size",
                         lambda t: t.dim() == 2 and t.shape[1] == k and bool((t.abs() <= kinds.MAX_WEIGHT).all())
                         ).check("eps", eps)


def _variable(index, A: Tensor, name: str = "index") -> int:
    """``index`` as a variable of A (0..K-1), or a ValueError naming it (``name``)."""
    k = A.shape[0]
    return kinds.integer(f"a variable index between 0 and {k - 1}", 0, k - 1).check(name, index)


def _scales(scale, k: int) -> Tensor:
    """The noise standard deviations as a float64 tensor (k,): one number for all, or k of them, each >= 0."""
    s = kinds.numbers(f"noise standard deviations >= 0 and at most {kinds.MAX_WEIGHT:g}: one number or {k} (one per "
                      "variable)", lambda t: t.dim() <= 1 and t.numel() in (1, k)
                      and bool(((t >= 0) & (t <= kinds.MAX_WEIGHT)).all())).check("scale", scale)
    return s.double().reshape(-1).expand(k)


def _weights(who: str, **weights: float) -> list[float]:
    return [kinds.finite.check(f"{who}'s {name}", w) for name, w in weights.items()]


def chain(b: float = 1.0, c: float = 1.0) -> SCM:
    """x1 -> x2 -> x3:  x2 = b x1 + eps2,  x3 = c x2 + eps3."""
    b, c = _weights("chain", b=b, c=c)
    return linear_scm([[0, b, 0], [0, 0, c], [0, 0, 0]])


def fork(b: float = 1.0, c: float = 1.0) -> SCM:
    """x1 <- x2 -> x3 (x2 the common cause):  x1 = b x2 + eps1,  x3 = c x2 + eps3."""
    b, c = _weights("fork", b=b, c=c)
    return linear_scm([[0, 0, 0], [b, 0, c], [0, 0, 0]])


def collider(b: float = 1.0, c: float = 1.0) -> SCM:
    """x1 -> x2 <- x3 (x2 the common effect):  x2 = b x1 + c x3 + eps2."""
    b, c = _weights("collider", b=b, c=c)
    return linear_scm([[0, b, 0], [0, 0, 0], [0, c, 0]])


_MAX_VARIANCE = kinds.MAX_WEIGHT ** 2  # a covariance of noise scales at most MAX_WEIGHT: s_j^2 <= cov[j, j]


def linear_scm_from_covariance(cov, order: Sequence[int]) -> tuple[Tensor, Tensor]:
    """(A, s): a linear-Gaussian SCM whose variables come in ``order`` and whose covariance is ``cov``.

    Each variable is regressed on all those before it in the order (its residual is eps). Any
    positive-definite covariance admits one such SCM for every order, so observational Gaussian data
    cannot tell these models apart; edges with weight 0 show which orders keep the true skeleton
    (members of the Markov equivalence class) and which need extra edges.
    """
    cov = kinds.numbers(f"a finite square (K, K) covariance matrix with entries at most {_MAX_VARIANCE:g} in size (noise "
                        f"scales at most {kinds.MAX_WEIGHT:g})", lambda t: t.dim() == 2 and t.shape[0] == t.shape[1]
                        <= kinds.MAX_UNITS and bool((t.abs() <= _MAX_VARIANCE).all())).check("cov", cov).double()
    k = cov.shape[0]
    if not torch.allclose(cov, cov.T) or int(torch.linalg.cholesky_ex(cov).info) != 0:
        raise ValueError(f"cov must be a symmetric positive-definite covariance matrix, got {cov.tolist()}"[:300])
    order = list(kinds.indices.check("order", order))
    if sorted(order) != list(range(k)):
        raise ValueError(f"order must be a permutation of 0..{k - 1}, got {order}")
    A = torch.zeros(k, k, dtype=torch.float64)
    s2 = torch.zeros(k, dtype=torch.float64)
    for pos, j in enumerate(order):
        before = order[:pos]
        if not before:
            s2[j] = cov[j, j]
            continue
        S = cov[before][:, before]
        w = torch.linalg.solve(S, cov[before, j])  # regression weights of x_j on its predecessors
        A[before, j] = w
        s2[j] = cov[j, j] - cov[before, j] @ w  # residual variance
    if not bool((A.abs() <= kinds.MAX_WEIGHT).all()):  # (an A that check_adjacency would refuse everywhere else)
        raise ValueError(f"cov must give regression weights at most {kinds.MAX_WEIGHT:g} in size (an A the SCMs take), "
                         f"got weights up to {float(A.abs().max()):.3g} in the order {order}: some variances differ by "
                         "more than float32 weights can bridge")
    return A, s2.clamp_min(0).sqrt()


def markov_equivalent(A, B) -> bool:
    """Same skeleton and same v-structures (a -> c <- b with a, b not adjacent) [verma1990, Thm. 1]."""
    A, B = (check_adjacency(M, name=name) != 0 for M, name in ((A, "A"), (B, "B")))
    if A.shape != B.shape:
        raise ValueError(f"markov_equivalent needs two graphs on the same variables, got A of shape {tuple(A.shape)} "
                         f"and B of shape {tuple(B.shape)}")
    for G, name in ((A, "A"), (B, "B")):  # v-structures and Verma-Pearl's theorem are about DAGs
        if not is_dag(G.to(torch.float64)):
            raise ValueError(f"markov_equivalent's {name} must be a DAG (equivalence classes are of acyclic graphs), "
                             "got a graph with a cycle")
    if not torch.equal(A | A.T, B | B.T):
        return False

    def v_structures(G: Tensor) -> set[tuple[int, int, int]]:
        k = G.shape[0]
        out = set()
        for c in range(k):
            pa = [i for i in range(k) if G[i, c]]
            for a in pa:
                for b in pa:
                    if a < b and not (G[a, b] or G[b, a]):
                        out.add((a, c, b))
        return out

    return v_structures(A) == v_structures(B)


__all__ = ["Equation", "SCM", "causal_matrix", "chain", "check_adjacency", "collider", "constant", "fork", "is_dag",
           "linear_covariance", "linear_intervene", "linear_sample", "linear_scm", "linear_scm_from_covariance", "linear_solve", "markov_equivalent",
           "topological_order"]
