"""BREP-MI: the sphere sampling and the repulsion direction by hand, and a label-only run through
the pipeline (its view, its starts inside the class, its query budget)."""

import dataclasses

import pytest
import torch

from mibench.attack import AttackBudget
from mibench.access import LabelOnly
from mibench.attacks.brep import BREPMI, repulsion, sphere_directions
from mibench.errors import QueryBudgetError
from mibench.runner import Pipeline, RunOptions
from mibench.spec import resolve


def test_sphere_directions_lie_on_each_latents_sphere():
    d = sphere_directions(3, 5, 7, torch.tensor([1.0, 2.0, 0.5]), torch.Generator().manual_seed(0))
    assert d.shape == (3, 5, 7)
    assert d.norm(dim=2) == pytest.approx(torch.tensor([[1.0] * 5, [2.0] * 5, [0.5] * 5]))


def test_repulsion_is_minus_the_mean_of_the_outside_directions_over_the_radius():
    u = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]]])  # radius 2
    scores = torch.tensor([[1.0, -1.0, 1.0, -1.0]])  # (0, 2) and (0, -2) left the class
    assert repulsion(scores, u, torch.tensor([2.0])).tolist() == [[0.0, 0.0]]  # they cancel
    scores = torch.tensor([[1.0, -1.0, 1.0, 1.0]])  # only (0, 2) left: move down
    assert repulsion(scores, u, torch.tensor([2.0])).tolist() == [[0.0, -0.25]]  # -(0, 2) / 4 / 2


def run_brep(tmp_path, overrides=None):
    """BREP on tiny, attacking class 3 (the label the tiny target gives every public image: starts
    exist) and class 1 (no prior sample is labelled 1: no start)."""
    pipe = Pipeline(resolve("tiny", "none", "brep", "quick", overrides=overrides),
                    RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False))
    pipe.profile = dataclasses.replace(pipe.profile, budget=AttackBudget(classes=(1, 3), per_class=2, seeds=2))
    seen = {}
    original = pipe.attack.run

    def watched(ctx):
        seen["view"] = ctx.target
        return original(ctx)

    pipe.attack.run = watched
    prep = pipe.prepare()
    return pipe, prep, seen


def test_brep_gets_the_label_only_view_and_keeps_its_reconstructions_inside_the_class(tmp_path):
    pipe, prep, seen = run_brep(tmp_path)
    recon, queries = pipe.reconstruct(prep)
    assert type(seen["view"]) is LabelOnly
    assert queries > 0 and len(recon.images) == pipe.profile.budget.total == 8
    assert recon.notes["without_start"] == 4  # the class-1 latents: random prior samples, not stepped
    # a reconstruction with a start is the start or a point where the radius grew: both labelled c
    predicted = prep.target.model(recon.images).argmax(1)
    assert torch.equal(predicted[recon.labels == 3], torch.full((4,), 3))


def test_brep_stops_at_its_declared_query_budget(tmp_path):
    pipe, prep, _ = run_brep(tmp_path, {"attack": {"max_queries": "20"}})
    assert pipe.attack.query_budget() == 20
    with pytest.raises(QueryBudgetError, match="attack 'brep' declared a budget of 20 target queries"):
        pipe.reconstruct(prep)


def test_brep_stops_a_latent_whose_sphere_outgrows_the_latent_box(tmp_path):
    """The tiny target labels every prior sample 3, so every sphere around a class-3 latent stays in
    the class: the radius grows 1.3-fold a step (2, 2.6, 3.38, 4.39, 5.71) and the latent stops once
    it exceeds max_radius = 5, after 4 steps, long before patience or max_steps."""
    pipe, prep, _ = run_brep(tmp_path, {"attack": {"max_radius": "5", "patience": "1000", "max_steps": "1000"}})
    recon, _ = pipe.reconstruct(prep)
    assert recon.notes["stopped_by_max_radius"] == 4 and recon.notes["stopped_by_max_steps"] == 0
    assert recon.notes["steps"] == 5  # 4 growing steps, then a step with no latent left
    assert recon.notes["final_radius_mean"] == pytest.approx((4 * 2 + 4 * 2 * 1.3 ** 4) / 8)


def test_brep_default_max_radius_is_the_latent_box_diameter():
    assert BREPMI.Params().max_radius == 0  # resolved in run: 2 * 1.5 * sqrt(100) = 30 for gmi-wgan


def test_brep_queried_in_chunks_of_one_image_gives_the_reconstructions_of_one_batch_to_the_last_bit(tmp_path, monkeypatch):
    """The query step runs the generator and the target in chunks on a CPU (mibench.chunks.map_rows):
    chunks of a single image reproduce the unchunked walk exactly, queries included."""
    from mibench import chunks

    results = []
    for pixels in (1, 2 ** 40):  # one image per chunk; one chunk
        monkeypatch.setattr(chunks, "CPU_CHUNK_PIXELS", pixels)
        pipe, prep, _ = run_brep(tmp_path / str(pixels))
        results.append(pipe.reconstruct(prep))
    (one, one_queries), (whole, whole_queries) = results
    assert torch.equal(one.images, whole.images) and one.notes == whole.notes and one_queries == whole_queries
