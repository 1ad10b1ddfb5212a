"""The artifact cache: build once, verify on read, rebuild what is corrupted, write atomically."""

import os
import threading
import time

import pytest
import torch

from mibench.cache import Cache, atomic_write_bytes, content_key, ensure_writable
from mibench.errors import CacheError


def test_builds_once_then_reuses(tmp_path):
    cache, calls = Cache(tmp_path), []

    def build():
        calls.append(1)
        return {"w": torch.arange(3)}

    a = cache.get_or_build("targets", {"x": 1}, build)
    b = cache.get_or_build("targets", {"x": 1}, build)
    assert calls == [1] and torch.equal(a["w"], b["w"])
    assert cache.builds == ["targets"] and cache.hits == ["targets"]
    cache.get_or_build("targets", {"x": 2}, build)
    assert len(calls) == 2


def test_a_concurrent_build_of_the_same_key_waits_instead_of_building_again(tmp_path):
    """Two workers needing one artifact (two seeds of an attack in a sweep): one builds, one waits."""
    calls, second_started = [], threading.Event()

    def build():
        calls.append(1)
        second_started.wait(10)
        time.sleep(0.3)  # the second worker has missed the cache and reached the lock by now
        return {"w": torch.arange(3)}

    results = []
    first = threading.Thread(target=lambda: results.append(Cache(tmp_path).get_or_build("priors", {"x": 1}, build)))
    first.start()
    while not calls:
        time.sleep(0.01)
    second_started.set()
    waiter = Cache(tmp_path)
    results.append(waiter.get_or_build("priors", {"x": 1}, build))
    first.join()
    assert calls == [1] and waiter.hits == ["priors"] and waiter.builds == []
    assert torch.equal(results[0]["w"], results[1]["w"])


def test_key_is_independent_of_dict_order():
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})


def test_corrupted_entry_is_detected_and_rebuilt(tmp_path, caplog):
    cache = Cache(tmp_path)
    cache.get_or_build("gan", {"k": 1}, lambda: {"w": torch.ones(4)})
    payload, _ = cache.paths("gan", content_key({"k": 1}))
    payload.write_bytes(payload.read_bytes()[:-7] + b"garbage")
    rebuilt = cache.get_or_build("gan", {"k": 1}, lambda: {"w": torch.zeros(4)})
    assert torch.equal(rebuilt["w"], torch.zeros(4))
    assert "corrupted" in caplog.text


def test_interrupted_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "f.bin"
    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # fails inside the write
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_interrupted_build_stores_nothing(tmp_path):
    cache = Cache(tmp_path)

    def build():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_build("targets", {"x": 1}, build)
    assert cache.load("targets", content_key({"x": 1})) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder_is_reported(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(CacheError, match="not writable"):
        ensure_writable(folder, "cache folder")


def test_uncreatable_folder_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheError, match="cache folder .* cannot be created or written"):
        ensure_writable(blocker / "sub", "cache folder")
