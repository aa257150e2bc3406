"""Everything ``import raystream as pw`` offers, imported at once.

:mod:`raystream` imports it at once in a user's process, and in a Ray worker
only on the first ``pw.<name>``: an actor, which imports only
``raystream.actors`` and ``raystream.connectors``, never pays for the public
API (about 0.4 s of imports per actor process).
"""

# ruff: noqa: F401 - every name here is re-exported by raystream/__init__.py

from raystream import debug, io, persistence, reducers, udfs, universes
from raystream import namespaces as _namespaces  # noqa: F401 - registers .str/.num/.dt
from raystream.compat_api import (
    BaseCustomAccumulator,
    assert_table_has_schema,
    fill_error,
    require,
    schema_builder,
    table_transformer,
)
from raystream.dtypes import DateTimeNaive, DateTimeUtc, Duration, Json, Pointer
from raystream.error_log import global_error_log
from raystream.errors import ApiTypeError, ApiValueError, RaystreamError
from raystream.expressions import (
    ColumnExpression,
    ColumnReference,
    cast,
    coalesce,
    if_else,
    this,
    unwrap,
)
from raystream.groupby import GroupedTable
from raystream.persistence import PersistenceMode
from raystream.pointer import ref_scalar
from raystream.pyops import make_tuple
from raystream.run import MonitoringLevel, run, run_all
from raystream.schema import (
    Schema,
    column_definition,
    schema_from_dict,
    schema_from_types,
)
from raystream.table import Table
from raystream.udfs import UDF, apply, apply_async, apply_with_type, udf
