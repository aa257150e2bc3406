"""Seed page example: write every column of a table to Kinesis as JSON (with time and diff).

Needs a Kinesis endpoint and the environment pointing at it (see ``kinesis_read.py``).
"""

import raystream as pw

table = pw.debug.table_from_markdown(
    '''
    | key | value
  1 | 1   | one
  2 | 2   | two
  3 | 3   | three
'''
)
pw.io.kinesis.write(
    table,
    stream_name="testing",
    format="json",
)
pw.run()
