"""``flatten`` of lists, tuples, strings, Json arrays and numpy arrays, with ``origin_id``."""

from __future__ import annotations

import numpy as np
import pandas as pd

import raystream as pw


def test_flatten_kinds_and_item_types() -> None:
    frame = pd.DataFrame({"l": [[1, 2], [], [3]], "k": [10, 20, 30],
                          "arr": [np.array([1.5, 2.5]), np.array([]), np.array([4.0])]})
    t = pw.debug.table_from_pandas(frame)
    lists = t.select(t.l, t.k).flatten(pw.this.l, origin_id="parent")
    arrays = t.select(t.arr).flatten(pw.this.arr)
    words = pw.debug.table_from_markdown("w\nab\nc").flatten(pw.this.w)
    got = pw.debug.compute_tables(t, lists, arrays, words)
    parents = {key: row for key, row in got[0].items()}
    flattened = sorted((row[0], parents[row[2]][1]) for row in got[1].values())
    assert flattened == sorted((x, k) for xs, k in zip(frame.l, frame.k, strict=True) for x in xs)
    assert sorted(r[0] for r in got[2].values()) == [1.5, 2.5, 4.0]
    assert sorted(r[0] for r in got[3].values()) == ["a", "b", "c"]
    assert lists.typehints()["l"] == pw.dtypes.INT
    assert lists.typehints()["parent"] == pw.dtypes.POINTER
    assert arrays.typehints()["arr"] == pw.dtypes.FLOAT


def test_numpy_array_columns_compute_element_wise() -> None:
    frame = pd.DataFrame({"m": [np.eye(2), np.arange(4).reshape(2, 2)],
                          "v": [np.array([1, 2]), np.array([3, 4])]})
    t = pw.debug.table_from_pandas(frame)
    out = t.select(p=t.m @ t.v, s=t.v + 1, i=t.v[0], g=t.v.get(5, -1))
    got = list(pw.debug.compute_tables(out)[0].values())
    expected = [(m @ v, v + 1, v[0], -1) for m, v in zip(frame.m, frame.v, strict=True)]
    assert sorted((p.tolist(), s.tolist(), i, g) for p, s, i, g in got) == \
        sorted((p.tolist(), s.tolist(), int(i), g) for p, s, i, g in expected)
