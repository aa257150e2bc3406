"""Static pipelines run in the driver; on Ray the same pipeline gives the same rows.

``pw.debug`` and ``pw.run`` run pipelines of static tables in the driver process
with the actors' kernels (milliseconds instead of seconds of actor start-up);
``runtime="ray"`` deploys them on Ray. Both must agree, ids included.
"""

from __future__ import annotations

import pytest

import raystream as pw

pytestmark = pytest.mark.usefixtures("ray_session")


def _tables() -> list[pw.Table]:
    pets = pw.debug.table_from_markdown("""
          | owner | pet | age
        1 | Ann   | cat | 3
        2 | Bob   | dog | 5
        3 | Ann   | fox | 1
        4 | Cid   | owl | 0
    """)
    names = pw.debug.table_from_markdown("""
          | nick
        1 | a
        2 | b
        3 | c
        4 | d
    """)
    zipped = pets.select(pets.pet, nick=names.nick, ratio=pw.if_else(pets.age > 0,
                                                                      10 // pets.age, -1))
    groups = pets.groupby(pets.owner).reduce(pets.owner, n=pw.reducers.count(),
                                            pets=pw.reducers.sorted_tuple(pets.pet))
    letters = pets.select(chars=pets.pet).flatten(pw.this.chars, origin_id="parent")
    updated = pets.update_cells(names.filter(names.nick != "b").select(owner=pw.this.nick))
    return [zipped, groups, letters, updated, pets.with_id_from(pets.pet)]


def test_local_and_ray_runs_agree() -> None:
    local = pw.debug.compute_tables(*_tables())
    ray_run = pw.debug.compute_tables(*_tables(), runtime="ray", reduce_parallelism=2)
    assert local == ray_run
    assert local[0][pw.ref_scalar(4)] == ("owl", "d", -1)
    assert sorted(local[1].values()) == [("Ann", 2, ("cat", "fox")), ("Bob", 1, ("dog",)),
                                         ("Cid", 1, ("owl",))]
