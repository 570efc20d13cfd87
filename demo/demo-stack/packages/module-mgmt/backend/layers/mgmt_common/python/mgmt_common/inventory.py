"""List this project's Lambda functions with the fields the admin UI shows."""

import boto3

_lambda = None


def _client():
    global _lambda
    if _lambda is None:
        _lambda = boto3.client("lambda")
    return _lambda


def _summarize(fn):
    return {
        "name": fn["FunctionName"],
        "runtime": fn.get("Runtime"),
        "memoryMb": fn.get("MemorySize"),
        "timeoutSeconds": fn.get("Timeout"),
        "codeSha256": fn.get("CodeSha256"),
        "lastModified": fn.get("LastModified"),
        "layers": [layer["Arn"] for layer in fn.get("Layers", [])],
    }


def list_project_functions(name_prefix):
    functions = []
    for page in _client().get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            if fn["FunctionName"].startswith(name_prefix):
                functions.append(_summarize(fn))
    return sorted(functions, key=lambda fn: fn["name"])
