"""Memory given back after a task (issue #17): glibc's malloc_trim after every Celery task, a per-child
cap as the backstop."""

import platform

import pytest
from celery.signals import task_postrun
from django.conf import settings

from autonomos.core import memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_heap_is_handed_back_to_the_system():
    assert memory._libc() is not None
    held = [bytearray(300) for _ in range(200_000)]  # small blocks: glibc keeps them in its arenas
    del held
    assert memory.memory_back() is True


def test_every_task_ends_by_giving_memory_back_and_a_pool_process_has_a_cap():
    import autonomos.celery  # noqa: F401 - connects the receiver

    receivers = [r[1]() for r in task_postrun.receivers]
    assert any(getattr(r, "__name__", "") == "_memory_back" for r in receivers)
    assert settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD == 1024 * 1024
