"""timed_spans: the seconds of each progress block, summed by description, only inside the context."""

import time

from mibench.progress import progress, timed_spans


def test_timed_spans_sums_each_progress_block_by_description_and_collects_nothing_outside():
    with progress("outside", 1):
        pass
    with timed_spans() as spans:
        for _ in range(2):
            with progress("stage a", 1):
                time.sleep(0.01)
        with progress("stage b", 1):
            pass
    with progress("after", 1):
        pass
    assert set(spans) == {"stage a", "stage b"} and spans["stage a"] >= 0.02 and spans["stage b"] < spans["stage a"]
