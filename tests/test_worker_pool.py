"""The worker pool behind every --num_workers (utils.common.parallel): every core this process may use by default,
results of every item whether in this process or in a pool, a pool no larger than the work, chunks that keep the
workers busy, and a progress bar that counts the items."""
import os

import pytest

from utils.common import parallel


def square(x):
    return x * x


def test_the_default_is_every_core_this_process_may_use(monkeypatch):
    assert parallel.default_workers() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 3})  # taskset / a container's CPU set
    monkeypatch.setattr(os, 'cpu_count', lambda: 8)  # the machine's
    assert parallel.default_workers() == 2


@pytest.mark.parametrize('cpu_count, expected', [(6, 6), (None, 1)])
def test_without_affinity_the_default_is_the_cpu_count_or_one(monkeypatch, cpu_count, expected):
    monkeypatch.delattr(os, 'sched_getaffinity')
    monkeypatch.setattr(os, 'cpu_count', lambda: cpu_count)
    assert parallel.default_workers() == expected


@pytest.mark.parametrize('num_workers', [1, 2])
def test_every_item_gives_its_result(num_workers):
    assert sorted(parallel.imap_progress(square, range(40), num_workers=num_workers)) == [x * x for x in range(40)]


def test_one_worker_runs_in_order_in_this_process():
    pids = list(parallel.imap_progress(lambda _: os.getpid(), range(3), num_workers=1))
    assert pids == [os.getpid()] * 3


class FakePool:
    """Stands in for multiprocessing's pool: records its size and chunk size, maps in this process."""
    made = []

    def __init__(self, processes):
        self.processes = processes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, fn, items, chunksize):
        FakePool.made.append((self.processes, chunksize))
        return map(fn, items)


class FakeContext:
    Pool = FakePool


@pytest.fixture
def pools(monkeypatch):
    contexts = []
    monkeypatch.setattr(parallel.multiprocessing, 'get_context',
                        lambda method: contexts.append(method) or FakeContext)
    FakePool.made = []
    yield FakePool.made
    assert set(contexts) <= {'fork'}  # workers inherit the loaded modules and arguments


@pytest.mark.parametrize('num_items, num_workers, processes, chunksize', [
    (1000, 4, 4, 16),  # 1000 // 32 = 31, at most 16 an errand
    (100, 2, 2, 6),  # 100 // 16
    (10, 4, 4, 1),  # at least 1
    (3, 8, 3, 1),  # no more processes than items
])
def test_the_pool_is_no_larger_than_the_work_and_chunks_keep_it_busy(pools, num_items, num_workers, processes,
                                                                      chunksize):
    assert sorted(parallel.imap_progress(square, range(num_items), num_workers=num_workers)) == [
        x * x for x in range(num_items)]
    assert pools == [(processes, chunksize)]


def test_the_default_number_of_workers_is_default_workers(pools, monkeypatch):
    monkeypatch.setattr(parallel, 'default_workers', lambda: 3)
    list(parallel.imap_progress(square, range(50)))
    assert pools == [(3, 2)]  # 50 // 24


def test_a_single_item_runs_here_whatever_the_workers(pools):
    assert list(parallel.imap_progress(square, [7], num_workers=8)) == [49]
    assert pools == []


def test_no_items_is_no_results(pools):
    assert list(parallel.imap_progress(square, [], num_workers=2)) == []
    assert pools == []


class FakeBar:
    """Stands in for tqdm: records how it was made, its updates and whether it was closed."""

    def __init__(self, **kwargs):
        self.kwargs, self.updates, self.closed = kwargs, 0, False
        FakeBar.made.append(self)

    def update(self):
        self.updates += 1

    def close(self):
        self.closed = True


@pytest.mark.parametrize('num_workers', [1, 2])
def test_the_bar_counts_the_items_in_their_unit_and_closes(monkeypatch, pools, num_workers):
    FakeBar.made = []
    monkeypatch.setattr(parallel, 'tqdm', FakeBar)
    assert len(list(parallel.imap_progress(square, range(5), num_workers=num_workers, desc='scoring'))) == 5
    [bar] = FakeBar.made
    # disable=None: tqdm shows the bar on a terminal only, so logs and pipes stay clean
    assert bar.kwargs == {'total': 5, 'desc': 'scoring', 'unit': 'img', 'dynamic_ncols': True, 'disable': None}
    assert bar.updates == 5 and bar.closed
    list(parallel.imap_progress(square, [1], unit='file'))
    assert FakeBar.made[1].kwargs['unit'] == 'file'


def test_the_bar_closes_when_a_worker_fails(monkeypatch):
    FakeBar.made = []
    monkeypatch.setattr(parallel, 'tqdm', FakeBar)

    def fail(x):
        raise ValueError(x)
    with pytest.raises(ValueError):
        list(parallel.imap_progress(fail, [1, 2], num_workers=1))
    assert FakeBar.made[0].closed and FakeBar.made[0].updates == 0
