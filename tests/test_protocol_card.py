"""The protocol card (docs/protocol-card.md) cannot go stale silently, and no docstring cites a missing document.

- Every ``*.md`` a module of the package names (mibench/, attacks/, defenses/, evaluators/) exists in
  the repository (under docs/ or at its root): docstrings point at the repository's own documents.
- Every parameter the mnist suite's profiles override (``Profile.components``) appears, with its value,
  in the card's section for that component.
- Every component table of the card lists each of the component's parameters, with its default and its
  resolved mnist ``full`` and ``quick`` values equal to what :func:`mibench.spec.resolve` gives.
- The card states the suite's version, budget, budget scales, target recipe and the judge's checksum.

Nothing is trained: ``resolve`` only builds the specs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "docs" / "protocol-card.md"
PACKAGE = ("mibench", "attacks", "defenses", "evaluators")
MD_MENTION = re.compile(r"[A-Za-z0-9_.-]*[A-Za-z_-]+\.md\b")
ROW = re.compile(r"^\| `([A-Za-z_]+)` \| `([^`]*)` \| `([^`]*)` \| `([^`]*)` \|")


def fmt(value) -> str:
    """A parameter value as the card writes it (``repr`` of floats, tuples in parentheses, surrogates as calls)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (list, tuple)) and len(v) == 2 and isinstance(v[1], dict) for v in value):
            return "; ".join(f"{name}({', '.join(f'{k}={fmt(x)}' for k, x in kw.items())})" for name, kw in value)
        return "(" + ", ".join(fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def card_text() -> str:
    assert CARD.is_file(), "docs/protocol-card.md is missing"
    return CARD.read_text(encoding="utf-8")


def section(text: str, key: str) -> str:
    """The card's section whose heading names ``key`` in backticks, up to the next heading of its level or above."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+) ", line)
        if m and f"`{key}`" in line:
            level = len(m.group(1))
            end = next((j for j in range(i + 1, len(lines))
                        if re.match(r"^(#+) ", lines[j]) and len(re.match(r"^(#+)", lines[j]).group(1)) <= level),
                       len(lines))
            return "\n".join(lines[i:end])
    raise AssertionError(f"docs/protocol-card.md has no section headed `{key}`")


def test_package_cites_only_documents_the_repository_has():
    docs = {p.name for p in (ROOT / "docs").glob("*.md")} | {p.name for p in ROOT.glob("*.md")}
    missing, checked = [], 0
    for folder in PACKAGE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for mention in MD_MENTION.findall(line):
                    checked += 1
                    relative = mention.lstrip("./")
                    exists = (ROOT / relative).is_file() if "/" in mention else mention in docs
                    if not exists:
                        missing.append(f"{path.relative_to(ROOT)}:{n}: {mention}")
    assert checked, "no *.md mention found in the package: the scan is broken"
    assert not missing, "documents cited but not in the repository:\n" + "\n".join(missing)


def mnist_profiles():
    from mibench.suites.mnist import PROFILES
    return PROFILES


@pytest.mark.parametrize("profile", ["full", "quick"])
def test_card_states_every_override_of_the_profile(profile):
    text = card_text()
    stale = []
    for key, values in mnist_profiles()[profile].components.items():
        body = section(text, key)
        for name, value in values.items():
            if f"`{name}`" not in body or fmt(value) not in body:
                stale.append(f"{key}.{name} = {fmt(value)}")
    assert not stale, f"the {profile} profile overrides these, and the card's sections do not state them: {stale}"


def resolved_components() -> dict[str, dict[str, dict]]:
    """Per component key: its defaults and its resolved mnist full / quick parameters."""
    from mibench.components import params_dict, resolve_params
    from mibench.registries import ATTACKS, DEFENSES, EVALUATORS, PRIORS
    from mibench.spec import resolve

    out: dict[str, dict[str, dict]] = {}

    def builtin(registry):  # the components mibench ships (installed plugins have their own documents)
        return [n for n in registry.usable_names() if registry.get(n).__module__.startswith("mibench.")]

    def default(registry, name):
        return params_dict(resolve_params(registry.get(name).Params, {}, owner=name))

    for name in builtin(DEFENSES):
        out[f"defenses.{name}"] = {"default": default(DEFENSES, name), **{
            p: resolve("mnist", name, "plg", p).defense_params for p in ("full", "quick")}}
    for name in builtin(ATTACKS):
        control = ATTACKS.get(name).control_only
        specs = {p: resolve("mnist", "none", name, p, control=control) for p in ("full", "quick")}
        out[f"attacks.{name}"] = {"default": default(ATTACKS, name),
                                  **{p: s.attack_params for p, s in specs.items()}}
        for prior in specs["full"].prior_params:
            out[f"priors.{prior}"] = {"default": default(PRIORS, prior),
                                      **{p: s.prior_params[prior] for p, s in specs.items()}}
    specs = {p: resolve("mnist", "none", "plg", p) for p in ("full", "quick")}
    for name in specs["full"].evaluator_params:
        out[f"evaluators.{name}"] = {"default": default(EVALUATORS, name),
                                     **{p: s.evaluator_params[name] for p, s in specs.items()}}
    return out


def test_card_tables_equal_the_resolved_parameters():
    text = card_text()
    wrong = []
    for key, values in resolved_components().items():
        rows = {m.group(1): m.groups()[1:] for m in map(ROW.match, section(text, key).splitlines()) if m}
        for name, default in values["default"].items():
            expected = (fmt(default), fmt(values["full"][name]), fmt(values["quick"][name]))
            if rows.get(name) != expected:
                wrong.append(f"{key}.{name}: card {rows.get(name)}, code {expected}")
        wrong += [f"{key}.{name}: in the card, not a parameter" for name in sorted(set(rows) - set(values["default"]))]
    assert not wrong, "docs/protocol-card.md's component tables differ from the code:\n" + "\n".join(wrong)


def test_card_states_the_suite():
    from mibench.suites.mnist import JUDGE, TARGET_RECIPE, MnistSuite
    text = card_text()
    assert f"protocol version {MnistSuite.version}" in text
    assert JUDGE.sha256 in text and JUDGE.filename in text
    for profile, prof in mnist_profiles().items():
        body = section(text, f"{profile}")
        b = prof.budget
        assert f"{len(b.classes)} classes x {b.per_class} images x {b.seeds} seeds" in body, profile
        for kind, factor in prof.budget_scale.items():
            inverse = round(1 / factor)
            written = {fmt(factor)} | ({f"1/{inverse}"} if abs(1 / factor - inverse) < 1e-9 else set())
            assert any(f"`{kind}` x `{w}`" in body for w in written), (profile, kind)
        assert f"epochs `{fmt(prof.target.epochs)}`" in body, profile
    recipe = section(text, "TARGET_RECIPE")
    for field in ("batch_size", "lr", "momentum", "weight_decay", "lr_milestones"):
        assert f"`{field}` = `{fmt(getattr(TARGET_RECIPE, field))}`" in recipe, field
