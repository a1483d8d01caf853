"""boto3 in a sandbox that holds only placeholder keys: the calls the proxy's AWS tests make.

Usage: boto3-aws.py ENDPOINT ACTION [ARGS]; prints one JSON object. The keys, proxy and CA
bundle come from the environment `credproxy proxy env --aws` printed.
"""
import hashlib, io, json, os, sys

import boto3
from botocore.config import Config

endpoint, action = sys.argv[1], sys.argv[2]
config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})


def client(name, **extra):
    return boto3.client(name, endpoint_url=endpoint, region_name="us-east-1", config=config, **extra)


def digest(data):
    return hashlib.sha256(data).hexdigest()


if action == "identity":
    print(json.dumps(client("sts").get_caller_identity()["Arn"]))
elif action == "roundtrip":
    size = int(sys.argv[3])
    s3 = client("s3")
    s3.create_bucket(Bucket="sandbox")
    small = b"hello from the sandbox\n"
    s3.put_object(Bucket="sandbox", Key="small.txt", Body=small)
    big = os.urandom(size)
    s3.upload_fileobj(io.BytesIO(big), "sandbox", "dir/big object.bin")  # boto3's default upload path
    got_small = s3.get_object(Bucket="sandbox", Key="small.txt")["Body"].read()
    got_big = s3.get_object(Bucket="sandbox", Key="dir/big object.bin")["Body"].read()
    try:
        s3.get_object(Bucket="sandbox", Key="missing.txt")
        missing = None
    except s3.exceptions.NoSuchKey as error:  # an error body, passed through the proxy's error-body check
        missing = error.response["Error"]["Code"]
    print(json.dumps({"small": got_small == small, "big": digest(got_big) == digest(big), "bigSize": len(got_big), "missing": missing}))
elif action == "sha256":
    print(json.dumps(digest(client("s3").get_object(Bucket="sandbox", Key=sys.argv[3])["Body"].read())))
elif action == "presign":
    version = {"v4": "s3v4", "v2": "s3"}[sys.argv[3]]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=config.merge(Config(signature_version=version)))
    print(json.dumps(s3.generate_presigned_url("get_object", Params={"Bucket": "sandbox", "Key": "small.txt"}, ExpiresIn=300)))
elif action == "keys":
    # Signs with the keys given on the command line instead (a real key, an unknown one).
    s3 = client("s3", aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4], aws_session_token=None)
    try:
        s3.list_objects_v2(Bucket="sandbox")
        print(json.dumps({"status": 200}))
    except Exception as error:  # the proxy's refusal, as botocore reports it
        response = getattr(error, "response", {}) or {}
        meta = response.get("ResponseMetadata", {})
        print(json.dumps({"status": meta.get("HTTPStatusCode"), "reason": meta.get("HTTPHeaders", {}).get("x-credproxy-deny-reason")}))
else:
    raise SystemExit(f"unknown action {action}")
