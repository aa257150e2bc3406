"""Table operations run on Ray give Pathway's results (via pw.debug)."""

from __future__ import annotations

import pytest

import raystream as pw

pytestmark = pytest.mark.usefixtures("ray_session")

PETS = pw.debug.table_from_markdown("""
      | owner | pet | age | tags
    1 | Alice | dog | 3   | a
    2 | Bob   | cat | 5   | b
    3 | Alice | cat | 7   | c
    4 | Carol | fox | 1   | d
""")


def rows(table: pw.Table) -> list[tuple]:
    frame = pw.debug.table_to_pandas(table)
    return sorted(map(tuple, frame.itertuples(index=False)))


def test_select_with_columns_without_rename_filter() -> None:
    t = PETS.filter(PETS.age > 2).with_columns(older=pw.this.age + 1).without(pw.this.tags)
    t = t.rename({"pet": "animal"}).select(pw.this.owner, pw.this.animal, pw.this.older)
    assert rows(t) == [("Alice", "cat", 8), ("Alice", "dog", 4), ("Bob", "cat", 6)]


def test_groupby_reduce_with_expressions_over_reducers() -> None:
    t = PETS.groupby(PETS.owner).reduce(
        PETS.owner, n=pw.reducers.count(), mean=pw.reducers.sum(PETS.age) / pw.reducers.count(),
        oldest=pw.reducers.max(PETS.age), pets=pw.reducers.sorted_tuple(PETS.pet),
        kinds=pw.reducers.count_distinct(PETS.pet), first=pw.reducers.min(PETS.pet),
        avg=pw.reducers.avg(PETS.age), anyone=pw.reducers.any(PETS.owner))
    assert rows(t) == [
        ("Alice", 2, 5.0, 7, ("cat", "dog"), 2, "cat", 5.0, "Alice"),
        ("Bob", 1, 5.0, 5, ("cat",), 1, "cat", 5.0, "Bob"),
        ("Carol", 1, 1.0, 1, ("fox",), 1, "fox", 1.0, "Carol"),
    ]


def test_global_reduce_concat_and_flatten() -> None:
    more = pw.debug.table_from_markdown("""
          | owner | pet | age | tags
        9 | Dave  | owl | 2   | x
    """)
    pw.universes.promise_are_pairwise_disjoint(PETS, more)
    both = PETS.concat(more)
    total = both.reduce(total=pw.reducers.sum(both.age), n=pw.reducers.count())
    assert rows(total) == [(18, 5)]
    letters = PETS.select(PETS.owner, chars=pw.apply_with_type(list, list[str], PETS.pet))
    flat = letters.flatten(letters.chars)
    assert len(rows(flat)) == 12 and ("Carol", "x") in rows(flat)


def test_primary_keys_upsert_in_static_input(tmp_path) -> None:
    class Schema(pw.Schema):
        id: int = pw.column_definition(primary_key=True)
        v: str

    (tmp_path / "in.jsonl").write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n'
                                       '{"id": 1, "v": "c"}\n')
    t = pw.io.jsonlines.read(tmp_path / "in.jsonl", schema=Schema, mode="static")
    assert rows(t) == [(1, "c"), (2, "b")]


def test_compute_and_print_shows_the_final_state(capsys) -> None:
    pw.debug.compute_and_print(PETS.filter(PETS.owner == "Bob").select(PETS.pet, PETS.age))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("|")[1:] == [" pet ", " age"]
    assert lines[1].startswith("^") and lines[1].endswith("| cat | 5")
