"""Seed page example: a stream per row, chosen by the ``stream`` column.

Needs a Kinesis endpoint and the environment pointing at it (see
``kinesis_read.py``). Creates the ``testing`` and ``other`` streams first.
"""

import os

import boto3

import raystream as pw

client = boto3.client(
    "kinesis",
    region_name="us-east-1",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4567"),
)
for name in ("testing", "other"):
    try:
        client.create_stream(StreamName=name, ShardCount=1)
    except client.exceptions.ResourceInUseException:
        pass  # created by an earlier example
    client.get_waiter("stream_exists").wait(StreamName=name,
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})

table = pw.debug.table_from_markdown(
    '''
    | key | value | stream
  1 | 1   | one   | testing
  2 | 2   | two   | other
  3 | 3   | three | testing
'''
)
pw.io.kinesis.write(
    table,
    stream_name=table.stream,
    format="json",
)
pw.run()
