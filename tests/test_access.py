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
