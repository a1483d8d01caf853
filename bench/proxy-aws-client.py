"""The timed half of bench/proxy-aws.bench.ts: one boto3 client (keep-alive), N sequential
calls of each kind, printed as JSON {op: [ms, ...]}. Keys, proxy and CA come from the env."""
import json, os, sys, time

import boto3
from botocore.config import Config

endpoint, rounds = sys.argv[1], int(sys.argv[2])
config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config)
sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", config=config)
bucket = sys.argv[3]
s3.create_bucket(Bucket=bucket)
body = os.urandom(1024 * 1024)
times = {"sts": [], "put": [], "get": []}


def timed(op, call):
    start = time.perf_counter()
    call()
    times[op].append((time.perf_counter() - start) * 1000)


for i in range(rounds):
    timed("sts", sts.get_caller_identity)
    timed("put", lambda: s3.put_object(Bucket=bucket, Key=f"o{i}", Body=body))
    timed("get", lambda: s3.get_object(Bucket=bucket, Key=f"o{i}")["Body"].read())
print(json.dumps(times))
