"""The seed design as written: a Flask app serving tenant_<id>.items.

The benchmark's Python peer, written as a competent Flask developer would
write the seed design: the tenant comes from X-Tenant-ID, is checked against
the tenant id grammar and quoted with psycopg2.sql.Identifier; each gunicorn
worker opens one autocommit connection once (see gunicorn.conf.py) and
returns JSON with the same fields as tenantapi. No authentication: the seed
design has none.
"""

import os
import re
import secrets
import time
import uuid
from datetime import datetime, timezone

import psycopg2
import psycopg2.extras
from flask import Flask, abort, jsonify, request
from psycopg2 import sql

app = Flask(__name__)

TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")
COLUMNS = sql.SQL("id, name, description, attributes, version, created_at, updated_at")

_conn = None


def connect():
    """Opens this worker's connection (called once per worker, after fork)."""
    global _conn
    _conn = psycopg2.connect(os.environ["DATABASE_URL"], application_name="bench-flask")
    _conn.autocommit = True


def db():
    if _conn is None or _conn.closed:
        connect()
    return _conn


def tenant_schema():
    tenant_id = request.headers.get("X-Tenant-ID", "")
    if not TENANT_ID.fullmatch(tenant_id):
        abort(400, "invalid X-Tenant-ID")
    return sql.Identifier(f"tenant_{tenant_id}")


def timestamp(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json(row):
    item_id, name, description, attributes, version, created_at, updated_at = row
    return {
        "id": str(item_id),
        "name": name,
        "description": description,
        "attributes": attributes,
        "version": version,
        "created_at": timestamp(created_at),
        "updated_at": timestamp(updated_at),
    }


def uuid7():
    """A UUIDv7 (Python 3.11 has none): 48 bits of milliseconds, then random."""
    ms = time.time_ns() // 1_000_000
    b = bytearray(ms.to_bytes(6, "big") + secrets.token_bytes(10))
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(b))


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/items/<item_id>")
def get_item(item_id):
    schema = tenant_schema()
    try:
        uuid.UUID(item_id)
    except ValueError:
        abort(404)
    with db().cursor() as cur:
        cur.execute(
            sql.SQL("SELECT {} FROM {}.items WHERE id = %s").format(COLUMNS, schema),
            (item_id,),
        )
        row = cur.fetchone()
    if row is None:
        abort(404)
    return jsonify(to_json(row))


@app.get("/items")
def list_items():
    schema = tenant_schema()
    limit = request.args.get("limit", 50, type=int)
    if not 1 <= limit <= 500:
        abort(400, "invalid limit")
    with db().cursor() as cur:
        cur.execute(
            sql.SQL("SELECT {} FROM {}.items ORDER BY id LIMIT %s").format(COLUMNS, schema),
            (limit,),
        )
        rows = cur.fetchall()
    return jsonify({"items": [to_json(r) for r in rows]})


@app.post("/items")
def create_item():
    schema = tenant_schema()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        abort(422, "name is required")
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        abort(422, "attributes must be an object")
    now = datetime.now(timezone.utc)
    item = (uuid7(), body["name"], body.get("description", ""), attributes, 1, now, now)
    with db().cursor() as cur:
        cur.execute(
            sql.SQL("INSERT INTO {}.items ({}) VALUES (%s, %s, %s, %s, %s, %s, %s)").format(schema, COLUMNS),
            (str(item[0]), item[1], item[2], psycopg2.extras.Json(attributes), 1, now, now),
        )
    return jsonify(to_json(item)), 201
