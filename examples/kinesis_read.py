"""Seed page example: read a Kinesis stream as plain text and write it to JSON lines.

Needs a Kinesis endpoint and the environment pointing at it, e.g.::

    export AWS_ENDPOINT_URL=http://localhost:4567
    export AWS_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

Runs until interrupted (Ctrl-C), like the Pathway original: the connector keeps
monitoring the stream and appends new records to ``output.jsonl``. Positions
are kept in ``./raystream-state/kinesis/testing``, so a second run continues
where the first stopped.
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

client.put_record(
    StreamName="testing",
    PartitionKey="123",
    Data="Hello, world!".encode("utf-8"),  # noqa: UP012 - as on the API page
)

table = pw.io.kinesis.read("testing", format="plaintext")
pw.io.jsonlines.write(table, "output.jsonl")
pw.run()
