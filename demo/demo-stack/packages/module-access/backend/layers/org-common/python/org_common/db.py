"""Minimal Supabase (PostgREST) client using the service role key from Secrets Manager."""

import json
import os
import urllib.error
import urllib.parse
import urllib.request

import boto3

from org_common.errors import ApiError

_config = None


def get_supabase_config():
    """Load {url, service_role_key} once per container."""
    global _config
    if _config is None:
        client = boto3.client("secretsmanager")
        secret = client.get_secret_value(SecretId=os.environ["SUPABASE_SECRET_ARN"])
        _config = json.loads(secret["SecretString"])
    return _config


def supabase_request(method, path, query=None, body=None, prefer=None, token=None):
    config = get_supabase_config()
    url = config["url"].rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    headers = {
        "apikey": config["service_role_key"],
        "Authorization": f"Bearer {token or config['service_role_key']}",
        "Content-Type": "application/json",
    }
    if prefer:
        headers["Prefer"] = prefer
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise ApiError(f"supabase {method} {path} failed with {exc.code}", 502) from exc
    return json.loads(payload) if payload else None


def _eq_filters(filters):
    return {column: f"eq.{value}" for column, value in (filters or {}).items()}


def select(table, filters=None, columns="*", order=None):
    query = {"select": columns, **_eq_filters(filters)}
    if order:
        query["order"] = order
    return supabase_request("GET", f"/rest/v1/{table}", query=query)


def select_one(table, filters, columns="*"):
    rows = select(table, filters, columns)
    return rows[0] if rows else None


def insert(table, values):
    rows = supabase_request(
        "POST", f"/rest/v1/{table}", body=values, prefer="return=representation"
    )
    return rows[0] if rows else None


def upsert(table, values, on_conflict):
    rows = supabase_request(
        "POST",
        f"/rest/v1/{table}",
        query={"on_conflict": on_conflict},
        body=values,
        prefer="resolution=merge-duplicates,return=representation",
    )
    return rows[0] if rows else None


def update(table, filters, values):
    return supabase_request(
        "PATCH",
        f"/rest/v1/{table}",
        query=_eq_filters(filters),
        body=values,
        prefer="return=representation",
    )


def delete(table, filters):
    return supabase_request("DELETE", f"/rest/v1/{table}", query=_eq_filters(filters))
