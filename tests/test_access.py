"""Access views give an attack exactly what it declared."""

import torch
from torch import nn

from mibench.access import Access, BlackBox, LabelOnly, WhiteBox, view_for


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))


def test_white_box_gives_logits_with_gradients_to_the_input_only():
    m = model()
    view = view_for(Access.WHITE_BOX, m, 3, (1, 2, 2))
    assert isinstance(view, WhiteBox)
    x = torch.randn(2, 1, 2, 2, requires_grad=True)
    view.logits(x).sum().backward()
    assert x.grad is not None
    assert all(p.grad is None and not p.requires_grad for p in m.parameters())
    assert view.queries == 2


def test_black_box_returns_probabilities_without_gradients():
    view = view_for(Access.BLACK_BOX, model(), 3, (1, 2, 2))
    assert isinstance(view, BlackBox) and not hasattr(view, "logits")
    p = view.probs(torch.randn(5, 1, 2, 2, requires_grad=True))
    assert not p.requires_grad
    assert torch.allclose(p.sum(1), torch.ones(5))


def test_label_only_returns_labels_and_hides_the_model():
    m = model()
    view = view_for(Access.LABEL_ONLY, m, 3, (1, 2, 2))
    assert isinstance(view, LabelOnly)
    assert not any(hasattr(view, a) for a in ("logits", "probs", "model"))
    assert not any(isinstance(v, nn.Module) for v in vars(view).values())
    x = torch.randn(4, 1, 2, 2)
    assert torch.equal(view.labels(x), m(x).argmax(1))


def test_not_even_the_private_methods_of_a_view_hand_out_more_than_its_access():
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    labels = view_for(Access.LABEL_ONLY, model(), 3, (1, 2, 2))
    assert all(f(x).dtype == torch.long and f(x).dim() == 1 for f in (labels._query, labels._ask))
    probs = view_for(Access.BLACK_BOX, model(), 3, (1, 2, 2))
    for f in (probs._query, probs._ask):
        assert not f(x).requires_grad and torch.allclose(f(x).sum(1), torch.ones(3))


def test_a_query_budget_refuses_the_query_that_would_exceed_it():
    import pytest
    from mibench.errors import QueryBudgetError

    view = view_for(Access.LABEL_ONLY, model(), 3, (1, 2, 2), query_budget=5, owner="attack 'brep'")
    view(torch.randn(4, 1, 2, 2))
    with pytest.raises(QueryBudgetError, match=r"attack 'brep' declared a budget of 5 target queries and asked for 6 "
                                               r"\(4 already used, 2 more\)"):
        view(torch.randn(2, 1, 2, 2))
    assert view.queries == 4


class _Captured(Exception):
    """Raised by the stand-in attack once it has the view: the run stops there."""


def _pipeline_view(tmp_path, attack, access=None, monkeypatch=None):
    """The view the pipeline hands to ``attack`` (declaring ``access`` if given)."""
    import pytest

    from mibench.runner import Pipeline, RunOptions
    from mibench.spec import resolve

    pipe = Pipeline(resolve("tiny", "none", attack, "quick"), RunOptions(device="cpu", out=tmp_path / "runs"))
    if access is not None:
        monkeypatch.setattr(type(pipe.attack), "access", access)
    seen = {}

    def rogue(ctx):
        seen["view"] = ctx.target
        raise _Captured

    pipe.attack.run = rogue
    with pytest.raises(_Captured):
        pipe.reconstruct(pipe.prepare())
    return seen["view"]


def test_through_the_pipeline_a_label_only_attack_reads_no_logits_or_probabilities(tmp_path):
    view = _pipeline_view(tmp_path, "brep")
    assert type(view) is LabelOnly
    assert not any(hasattr(view, a) for a in ("logits", "probs", "model"))
    assert not any(isinstance(v, nn.Module) for v in vars(view).values())
    x = torch.rand(3, 1, 32, 32, requires_grad=True)
    for ask in (view, view._ask, view._query):
        out = ask(x)
        assert out.dtype == torch.long and out.shape == (3,) and not out.requires_grad


def test_through_the_pipeline_a_black_box_attack_cannot_take_gradients_of_the_target(tmp_path, monkeypatch):
    import pytest

    view = _pipeline_view(tmp_path, "gmi", Access.BLACK_BOX, monkeypatch)
    assert type(view) is BlackBox and not hasattr(view, "logits")
    x = torch.rand(3, 1, 32, 32, requires_grad=True)
    p = view(x)
    assert torch.allclose(p.sum(1), torch.ones(3)) and not p.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        p.sum().backward()
    assert x.grad is None


def test_an_attack_needing_an_access_the_suite_cannot_give_is_refused_before_any_work(monkeypatch):
    import pytest

    from mibench.errors import ConfigError
    from mibench.registries import SUITES
    from mibench.spec import resolve

    monkeypatch.setattr(SUITES.get("tiny"), "accesses", ("black-box", "label-only"))
    with pytest.raises(ConfigError, match="attack 'gmi' needs white-box access, which the targets of suite 'tiny' do "
                                          r"not give \(they give: black-box, label-only\); attacks that fit: brep"):
        resolve("tiny", "none", "gmi", "quick")
    assert resolve("tiny", "none", "brep", "quick").attack == "brep"


def test_white_box_gives_the_penultimate_features_and_only_white_box_does():
    from mibench.models import Classifier

    torch.manual_seed(0)
    m = Classifier(nn.Flatten(), nn.Linear(4, 3))
    view = view_for(Access.WHITE_BOX, m, 3, (1, 2, 2))
    x = torch.randn(2, 1, 2, 2, requires_grad=True)
    f = view.features(x)
    assert torch.equal(f, x.flatten(1)) and view.queries == 2
    f.sum().backward()
    assert x.grad is not None and all(p.grad is None for p in m.parameters())
    for access in (Access.BLACK_BOX, Access.LABEL_ONLY):
        assert not hasattr(view_for(access, m, 3, (1, 2, 2)), "features")
    import pytest

    with pytest.raises(TypeError, match="no penultimate features"):
        view_for(Access.WHITE_BOX, model(), 3, (1, 2, 2)).features(x)
