"""Seed page example: write a table to Kinesis as plain text, then read it back with boto3.

Needs a Kinesis endpoint and the environment pointing at it (see
``kinesis_read.py``). Prints one line per record of the ``testing`` stream.
"""

import os

import boto3

import raystream as pw

client = boto3.client(
    "kinesis",
    region_name="us-east-1",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://localhost:4567"),
)
try:
    client.create_stream(StreamName="testing", ShardCount=1)
except client.exceptions.ResourceInUseException:
    pass  # created by an earlier example
client.get_waiter("stream_exists").wait(StreamName="testing",
                                        WaiterConfig={"Delay": 1, "MaxAttempts": 30})

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
    format="plaintext",
    partition_key=table.key,
    data=table.value,
)
pw.run()

shards_response = client.list_shards(StreamName="testing")
shard_id = shards_response["Shards"][0]["ShardId"]
iterator_response = client.get_shard_iterator(
    StreamName="testing",
    ShardId=shard_id,
    ShardIteratorType="TRIM_HORIZON",
)
shard_iterator = iterator_response["ShardIterator"]
records_response = client.get_records(ShardIterator=shard_iterator, Limit=100)
for r in records_response["Records"]:
    print(f"Partition key: {r['PartitionKey']}; Value: {r['Data']}")

# Reading the messages back with the input connector (runs until interrupted):
#     reread_table = pw.io.kinesis.read("testing", format="plaintext")
