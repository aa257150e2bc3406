"""raystream: Pathway-style streaming tables on a Ray actor runtime.

Use it as ``import raystream as pw``.
"""

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

__all__ = [
    "ApiTypeError", "ApiValueError", "ColumnExpression", "ColumnReference", "DateTimeNaive",
    "DateTimeUtc", "Duration", "GroupedTable", "Json", "MonitoringLevel", "PersistenceMode",
    "Pointer", "RaystreamError", "Schema", "Table", "apply", "apply_with_type", "cast",
    "coalesce", "column_definition", "debug", "global_error_log", "if_else", "io",
    "persistence", "reducers", "run", "run_all", "schema_from_dict", "schema_from_types",
    "this", "udf", "unwrap", "UDF", "apply_async", "BaseCustomAccumulator",
    "assert_table_has_schema", "fill_error", "require", "schema_builder", "table_transformer",
    "ref_scalar", "make_tuple", "udfs", "universes",
]
