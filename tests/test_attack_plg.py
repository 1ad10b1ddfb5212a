"""PLG-MI's stage 1 (pseudo-labels) is cached under the target's key: the seeds of a row share it,
and a run's target queries are the same whether it built the pseudo-labels or reused them."""

from mibench.attacks import plg
from mibench.runner import RunOptions, run
from mibench.spec import resolve


def test_the_seeds_of_a_row_share_the_pseudo_labels_and_count_the_same_queries(tmp_path, monkeypatch):
    built = []
    score = plg.top_n_pseudo_labels
    monkeypatch.setattr(plg, "top_n_pseudo_labels", lambda *a, **k: built.append(1) or score(*a, **k))

    def run_seed(seed, cache):
        return run(resolve("tiny", "none", "plg", "quick", seed=seed),
                   RunOptions(device="cpu", out=tmp_path / "runs", cache_root=tmp_path / cache, write_leaderboard=False))

    run_seed(0, "shared")
    warm = run_seed(1, "shared")
    assert len(built) == 1  # the second seed reused the first seed's pseudo-labels
    cold = run_seed(1, "cold")
    assert len(built) == 2 and warm.attack_queries == cold.attack_queries > 0
    assert warm.metrics == cold.metrics


def test_a_runs_record_times_each_stage_of_its_attack(tmp_path):
    record = run(resolve("tiny", "none", "plg", "quick"),
                 RunOptions(device="cpu", out=tmp_path / "runs", write_leaderboard=False))
    stages = {k: v for k, v in record.timings.items() if k.startswith("attack/")}
    assert set(stages) == {"attack/plg: pseudo-labels", "attack/plg: conditional GAN", "attack/plg: inversion"}
    assert 0 < sum(stages.values()) <= record.timings["attack"]
