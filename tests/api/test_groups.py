"""Group commit (wework.api.groups): concurrent callers' items are run together, each
caller gets its own result, and a group's failure reaches that group's callers only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from wework.api.groups import GroupCommit


class Recorder:
    """``run`` of a GroupCommit: records each group; the first group waits until
    ``release`` is set, so that callers queue behind it meanwhile."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.groups: list[list[str]] = []
        self.first_running = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: list[str]) -> list[str]:
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.first_running.set()
            assert self.release.wait(30)
        if self.fail_on in items:
            raise RuntimeError(f"group with {self.fail_on}")
        return [f"done {i}" for i in items]


def fits_three(group: list[str], item: str) -> bool:
    return len(group) < 3


def queue_behind_first(commit: GroupCommit, rec: Recorder, later: list[str]) -> list:
    """Submit "first", then ``later`` while its group runs; returns the futures of all."""
    pool = ThreadPoolExecutor(len(later) + 1)
    futures = [pool.submit(commit.submit, "first")]
    assert rec.first_running.wait(30)
    for item in later:
        futures.append(pool.submit(commit.submit, item))
    while len(commit._queue) < len(later):  # every later caller is queued
        threading.Event().wait(0.01)
    rec.release.set()
    pool.shutdown(wait=True)
    return futures


def test_a_lone_item_runs_at_once_in_a_group_of_one():
    rec = Recorder()
    rec.release.set()
    commit = GroupCommit(rec, fits_three)
    assert commit.submit("a") == "done a"
    assert commit.submit("b") == "done b"
    assert rec.groups == [["a"], ["b"]]


def test_callers_arriving_meanwhile_run_together_each_with_its_own_result():
    rec = Recorder()
    commit = GroupCommit(rec, fits_three)
    later = ["b", "c", "d", "e", "f"]
    futures = queue_behind_first(commit, rec, later)
    assert [f.result() for f in futures] == [f"done {i}" for i in ["first", *later]]
    # The five that queued run as two groups, in arrival order, as ``fits`` allows.
    assert rec.groups[0] == ["first"]
    assert sorted(len(g) for g in rec.groups[1:]) == [2, 3]
    assert sorted(i for g in rec.groups[1:] for i in g) == later


def test_a_failing_group_fails_its_own_callers_only():
    rec = Recorder(fail_on="c")
    commit = GroupCommit(rec, fits_three)
    futures = queue_behind_first(commit, rec, ["b", "c", "d", "e", "f"])
    failing = next(g for g in rec.groups if "c" in g)
    by_item = dict(zip(["first", "b", "c", "d", "e", "f"], futures, strict=True))
    for item, future in by_item.items():
        if item in failing:
            with pytest.raises(RuntimeError, match="group with c"):
                future.result()
        else:
            assert future.result() == f"done {item}"
    assert len(failing) > 1  # the failure reached more than its own item's caller
    assert commit.submit("g") == "done g"  # and the next group runs as usual


def test_a_run_with_the_wrong_number_of_results_is_an_error_to_each_caller():
    commit = GroupCommit(lambda items: [], fits_three)
    with pytest.raises(RuntimeError, match="0 results for a group of 1"):
        commit.submit("a")
