"""Metrics against values computed by hand on small tensors."""

import math

import numpy as np
import pytest
import torch

from mibench.evaluators.accuracy import attack_accuracy, per_class_accuracy, per_seed_mean_std, topk_hits
from mibench.evaluators.fid import frechet_distance, gaussian_stats
from mibench.evaluators.knn import nearest_same_class


def test_topk_hits_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.05, 0.15], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    assert topk_hits(logits, labels, 1).tolist() == [1.0, 0.0, 0.0]
    assert topk_hits(logits, labels, 2).tolist() == [1.0, 1.0, 0.0]
    assert topk_hits(logits, labels, 5).tolist() == [1.0, 1.0, 1.0]  # k capped at 3 classes


def test_accuracy_mean_and_std_over_seeds_by_hand():
    # seed 0: 2 of 2 correct (1.0); seed 1: 1 of 2 correct (0.5) -> mean 0.75, population std 0.25
    logits = torch.eye(3)[[0, 1, 0, 2]] * 5
    labels = torch.tensor([0, 1, 1, 2])
    seeds = torch.tensor([0, 0, 1, 1])
    out = attack_accuracy(logits, labels, seeds)
    assert out["attack_acc_top1"] == pytest.approx(0.75)
    assert out["attack_acc_top1_std"] == pytest.approx(0.25)
    assert out["attack_acc_top5"] == pytest.approx(1.0)
    assert per_seed_mean_std(torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.tensor([0, 0, 1, 1]))[0] == pytest.approx(0.25)


def test_accuracy_by_attacked_class_by_hand():
    # class 0: 2 of 2 right (1.0); class 1: 2 of 3 right, the third has it second (top-1 2/3, top-2 1.0);
    # class 2: 0 of 1 right, second (top-1 0.0, top-2 1.0)
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0], [0, 5.0, 0], [0, 1.0, 5.0], [5.0, 0, 1.0]])
    labels = torch.tensor([0, 1, 0, 1, 1, 2])
    assert per_class_accuracy(logits, labels, 1) == {"0": 1.0, "1": pytest.approx(2 / 3), "2": 0.0}
    assert per_class_accuracy(logits, labels, 2) == {"0": 1.0, "1": 1.0, "2": 1.0}


def test_knn_squared_distance_to_nearest_same_class_by_hand():
    bank = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    bank_labels = torch.tensor([0, 0, 1])
    query = torch.tensor([[3.0, 3.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1])
    dist, idx = nearest_same_class(query, labels, bank, bank_labels)
    # (3,3): to (0,0) 18, to (3,4) 1 -> 1; (0,0) of class 1: to (1,1) -> 2 (the closer class-0 point is ignored)
    assert dist.tolist() == pytest.approx([1.0, 2.0])
    assert idx.tolist() == [1, 2]


def test_knn_refuses_a_class_without_private_images():
    with pytest.raises(ValueError, match="no private_train image"):
        nearest_same_class(torch.zeros(1, 2), torch.tensor([5]), torch.zeros(3, 2), torch.tensor([0, 1, 2]))


def test_frechet_distance_one_dimensional_by_hand():
    # 1-D: (mu1 - mu2)^2 + s1 + s2 - 2 sqrt(s1 s2) = 4 + 4 + 1 - 2*2 = 5
    d = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]]))
    assert d == pytest.approx(5.0)


def test_frechet_distance_diagonal_by_hand():
    mu1, mu2 = np.zeros(2), np.array([1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # 1 + (1 + 9 - 2*3) + (4 + 1 - 2*2) = 1 + 4 + 1 = 6
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(6.0)


def test_frechet_distance_of_identical_samples_is_zero_even_when_singular():
    feats = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))  # 5 samples in 8-d: singular covariance
    mu, sigma = gaussian_stats(feats)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-3)


def test_gaussian_stats_by_hand():
    mu, sigma = gaussian_stats(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    assert mu.tolist() == [2.0, 4.0]
    assert np.allclose(sigma, [[2.0, 4.0], [4.0, 8.0]])  # unbiased covariance (n - 1)
    assert not math.isnan(sigma.sum())
