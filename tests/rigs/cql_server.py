#!/usr/bin/python3
"""A CQL native protocol v4 test server that keeps rows in memory: a fake Cassandra cluster.

Written independently of spate's client (from native_protocol_v4.spec), so that the two
meeting proves something; tests/integration/cql_server_test.py runs the DataStax Python driver
against it to prove it is faithful enough for a real driver.

Speaks: OPTIONS, STARTUP (optionally LZ4 compression), AUTH_RESPONSE (PasswordAuthenticator),
REGISTER, QUERY, PREPARE, EXECUTE, BATCH. Answers the driver's system.local / system.peers
queries; keeps keyspaces, tables (one-column primary key) and rows; CREATE KEYSPACE, USE,
CREATE TABLE, INSERT (literals or bind markers, an upsert), SELECT (`*` or columns, optional
`WHERE pk = ...`, LIMIT) with paging. Identifiers are case-insensitive unless double-quoted;
reserved keywords as keyspace, table or column names are syntax errors, as in Cassandra.

Nodes: `--nodes N` listens N times on 127.0.0.1 (ephemeral ports, or --port P gives P, P+1, ...),
all sharing one store (schema, rows, prepared statements), so every node sees the same data.
Node i owns a single Murmur3 token: -2**63 + (i+1)*(2**64//N) - 1, the last node 2**63-1; its
system.local reports it, with host_id uuid(int=i+1). system.peers is always empty: all nodes
share the address 127.0.0.1 and v4 peers rows carry no port, so a driver could not tell them
apart; clients are given every node's port instead. Per node, `writes` counts rows written by
INSERT (QUERY, EXECUTE or BATCH), `misrouted` the writes whose partition key token the node
does not own (the owner of token t is the node with the smallest token >= t), `lz4_in` the
compressed request frames received.

Auth: `--auth USER:PASSWORD[,...]` makes STARTUP answer AUTHENTICATE
(org.apache.cassandra.auth.PasswordAuthenticator); until an AUTH_RESPONSE carrying
"\\0user\\0password" succeeds, other requests get a protocol error.

Permissions (CassandraAuthorizer): a user named by no --grant or --read-only is a superuser.
`--grant USER:PERMS:RESOURCE` (repeatable) gives USER only what is granted, like
`GRANT PERM ON RESOURCE TO USER`: PERMS is a comma list of CREATE, ALTER, DROP, SELECT, MODIFY,
AUTHORIZE or ALL; RESOURCE is `all` (ALL KEYSPACES), KS (KEYSPACE KS) or KS.TABLE. A grant on
a resource covers what is inside it. `--read-only USER[,...]` is `--grant USER:SELECT:all`.
As in Cassandra, a statement's permission is checked before what exists is looked at, so
`CREATE TABLE IF NOT EXISTS` of an existing table still needs CREATE: CREATE KEYSPACE needs
CREATE on ALL KEYSPACES, CREATE TABLE needs CREATE on its keyspace, ALTER TABLE needs ALTER,
INSERT needs MODIFY and SELECT needs SELECT on the table; system and system_schema tables are
readable by everyone. A refusal is ERROR Unauthorized (0x2100) with Cassandra's text, "User U
has no P permission on <table ks.t> or any of its parents". The creator of a keyspace or
table is granted every permission on it, as Cassandra does.

Schema: system_schema.keyspaces, .tables and .columns are served from the catalogue with
Cassandra 4.0's columns and types (replication as a frozen<map<text, text>> with the
strategy's full class name; columns' kind partition_key or regular, position 0 or -1, type as
CQL text: text for varchar); SELECT on them takes `*` or columns and `WHERE` on the key
prefix (keyspace_name, then table_name, then column_name) with literals or bind markers;
other restrictions get Cassandra's ALLOW FILTERING error. The system keyspaces appear in
keyspaces but their tables are not listed. The other system_schema tables (types, functions,
indexes, views...) answer no rows. ALTER TABLE KS.T ADD COLUMN TYPE (or ADD (C T, ...)) adds
columns.

Compression: SUPPORTED offers lz4 (when python3-lz4 is there). After STARTUP with
COMPRESSION=lz4 is answered, every response body is compressed (4-byte big-endian length,
then an LZ4 block); requests may come compressed or not (frame flag 0x01).

Speed: each connection is an asyncio.Protocol that answers every complete frame in a chunk it
has received and writes the answers with one write; it stops reading while the socket's
write buffer is full (pause_writing) rather than waiting for it after each answer.

Prints "port=P0 ports=P0,P1,..." once listening, then reads commands on stdin, one reply line
each:

  fail CODE N [MSG] the next N EXECUTE/BATCH requests and QUERY requests not against system
                    tables get ERROR CODE (hex, e.g. 1000 Unavailable, 1001 Overloaded,
                    1100 Write_timeout, 1200 Read_timeout, 2500 Unprepared) with message MSG
                    (default "injected by the test"); replies "ok"
  applied CODE N [MSG]  as fail, but a QUERY is carried out before the error is answered (what
                    a client sees when another did the same first: ALTER ... ADD gets "Column
                    with name 'c' already exists" and the column is there)
  drop N            the connection of the next N such requests is closed without an answer
  stall N           the next N paged SELECTs (system tables too) answer no rows and the paging
                    state they were sent (or "0"): a server that never gets to the end
  rows KS.TABLE     replies "rows=COUNT" (-1: no such table)
  get KS.TABLE KEY  replies the row with that key (uuid or text, as text) as one line of JSON,
                    or null
  stats             replies "node=0 writes=A misrouted=B lz4_in=C node=1 ..."
  forget            empties the prepared statement cache (EXECUTE then gets Unprepared)
  quit

Usage: cql_server.py [--port P] [--nodes N] [--auth USER:PASSWORD,...] [--read-only USER,...]
                    [--grant USER:PERMS:RESOURCE ...]
"""

import argparse
import asyncio
import bisect
import hashlib
import ipaddress
import json
import re
import struct
import sys
import traceback
import uuid

try:
    import lz4.block as lz4_block
except ImportError:  # Then SUPPORTED offers no compression and STARTUP refuses lz4.
    lz4_block = None

try:
    from cassandra.murmur3 import murmur3 as _driver_murmur3
except ImportError:
    _driver_murmur3 = None

# Type option ids (spec section 4.2.5.2).
TYPES = {"ascii": 0x01, "bigint": 0x02, "blob": 0x03, "boolean": 0x04, "double": 0x07,
         "float": 0x08, "int": 0x09, "timestamp": 0x0B, "uuid": 0x0C, "text": 0x0D,
         "varchar": 0x0D, "varint": 0x0E, "timeuuid": 0x0F, "inet": 0x10, "date": 0x11,
         "time": 0x12, "smallint": 0x13, "tinyint": 0x14}
COLLECTIONS = {"list": 0x20, "map": 0x21, "set": 0x22}
FIXED_SIZES = {"bigint": 8, "boolean": 1, "double": 8, "float": 4, "int": 4, "timestamp": 8,
               "uuid": 16, "timeuuid": 16, "date": 4, "time": 8, "smallint": 2, "tinyint": 1}

# Cassandra 4's reserved keywords (the rest of CQL's keywords, such as KEY, KEYSPACES or VALUES,
# are unreserved and may be used as names).
RESERVED = set("""
add allow alter and apply asc authorize batch begin by columnfamily create delete desc describe
drop entries execute from full grant if in index infinity insert into is keyspace limit
materialized modify nan norecursive not null of on or order primary rename revoke schema select
set table to token truncate unlogged update use using view where with""".split())

OPCODE_NAMES = {0x01: "STARTUP", 0x05: "OPTIONS", 0x07: "QUERY", 0x09: "PREPARE",
                0x0A: "EXECUTE", 0x0B: "REGISTER", 0x0D: "BATCH", 0x0F: "AUTH_RESPONSE"}
AUTHENTICATOR = "org.apache.cassandra.auth.PasswordAuthenticator"
HEADER = struct.Struct(">BBhBi")
INT = struct.Struct(">i")
MAX_FRAME = 256 * 1024 * 1024
# Replicas a consistency level waits for, as if every keyspace had replication factor 3.
BLOCK_FOR = {0x0000: 1, 0x0001: 1, 0x0002: 2, 0x0003: 3, 0x0004: 2, 0x0005: 3, 0x0006: 2,
             0x0007: 2, 0x0008: 2, 0x0009: 2, 0x000A: 1}
UNSET = object()  # A [value] of length -2: "not set", leaves the column alone.
DROP = object()  # The request's connection is closed without an answer.
VOID = struct.pack(">i", 0x0001)


class CqlError(Exception):
    def __init__(self, code, message, extra=b""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra  # The code-specific rest of the ERROR body (spec section 9).


class Drop(Exception):
    pass


def short(v): return struct.pack(">H", v)
def int32(v): return struct.pack(">i", v)
def string(s): b = s.encode(); return short(len(b)) + b
def long_string(s): b = s.encode(); return int32(len(b)) + b
def bytes_(b): return int32(-1) if b is None else int32(len(b)) + b
def string_list(items): return short(len(items)) + b"".join(string(i) for i in items)


def murmur3_token(key):
    """Murmur3Partitioner's token of a serialized partition key (x64 128-bit, seed 0, the
    first half, with Cassandra's sign-extended tail bytes; Long.MIN_VALUE maps to MAX)."""
    h = _driver_murmur3(key) if _driver_murmur3 else _murmur3(key)
    return 2**63 - 1 if h == -2**63 else h


def _murmur3(data):
    """The same hash in plain Python, for when python3-cassandra is not installed."""
    mask = 2**64 - 1
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F

    def rotl(x, r): return ((x << r) | (x >> (64 - r))) & mask

    def fmix(k):
        k ^= k >> 33
        k = (k * 0xFF51AFD7ED558CCD) & mask
        k ^= k >> 33
        k = (k * 0xC4CEB9FE1A85EC53) & mask
        return k ^ (k >> 33)

    h1 = h2 = 0
    n = len(data)
    blocks = n // 16
    for i in range(blocks):
        k1, k2 = struct.unpack_from("<QQ", data, i * 16)
        h1 ^= (rotl((k1 * c1) & mask, 31) * c2) & mask
        h1 = (rotl(h1, 27) + h2) & mask
        h1 = (h1 * 5 + 0x52DCE729) & mask
        h2 ^= (rotl((k2 * c2) & mask, 33) * c1) & mask
        h2 = (rotl(h2, 31) + h1) & mask
        h2 = (h2 * 5 + 0x38495AB5) & mask
    tail = data[blocks * 16:]
    k1 = k2 = 0
    for i, b in enumerate(tail):
        signed = (b - 256 if b > 127 else b) & mask  # Java bytes are signed.
        if i < 8:
            k1 ^= (signed << (8 * i)) & mask
        else:
            k2 ^= (signed << (8 * (i - 8))) & mask
    if len(tail) > 8:
        h2 ^= (rotl((k2 * c2) & mask, 33) * c1) & mask
    if tail:
        h1 ^= (rotl((k1 * c1) & mask, 31) * c2) & mask
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & mask
    h2 = (h2 + h1) & mask
    h1, h2 = fmix(h1), fmix(h2)
    h1 = (h1 + h2) & mask
    return h1 - 2**64 if h1 >= 2**63 else h1


def option(t):
    """[option] for a parsed type: ("text",) or ("list", inner) or ("map", k, v)."""
    if t[0] in COLLECTIONS:
        return short(COLLECTIONS[t[0]]) + b"".join(option(p) for p in t[1:])
    return short(TYPES[t[0]])


def parse_type(text):
    text = text.strip().lower().replace(" ", "")
    m = re.fullmatch(r"frozen<(.+)>", text)
    if m:
        return parse_type(m.group(1))
    m = re.fullmatch(r"(list|set|map)<(.+)>", text)
    if m:
        inner = m.group(2)
        if m.group(1) == "map":
            depth = 0
            for i, c in enumerate(inner):
                depth += c == "<"
                depth -= c == ">"
                if c == "," and depth == 0:
                    return ("map", parse_type(inner[:i]), parse_type(inner[i + 1:]))
            raise CqlError(0x2000, f"bad map type {text}")
        return (m.group(1), parse_type(inner))
    if text not in TYPES:
        raise CqlError(0x2000, f"unknown type {text}")
    return (text,)


def type_name(t):
    if t[0] in COLLECTIONS:
        return f"{t[0]}<{', '.join(type_name(p) for p in t[1:])}>"
    return t[0]


def encode_literal(t, lit):
    """A CQL literal (as text) to the bytes of type t."""
    name = t[0]
    if lit.lower() == "null":
        return None
    quoted = lit.startswith("'") and lit.endswith("'") and len(lit) >= 2
    text = lit[1:-1].replace("''", "'") if quoted else lit
    try:
        if name in ("text", "varchar", "ascii"):
            if not quoted:
                raise CqlError(0x2200, f"Invalid {lit} constant for column of type {name}")
            return text.encode()
        if name in ("uuid", "timeuuid"):
            return uuid.UUID(text).bytes
        if name == "int":
            return struct.pack(">i", int(text))
        if name == "smallint":
            return struct.pack(">h", int(text))
        if name == "tinyint":
            return struct.pack(">b", int(text))
        if name in ("bigint", "timestamp", "time"):
            return struct.pack(">q", int(text))
        if name == "varint":
            v = int(text)
            return v.to_bytes((v + (v < 0)).bit_length() // 8 + 1, "big", signed=True)
        if name == "double":
            return struct.pack(">d", float(text))
        if name == "float":
            return struct.pack(">f", float(text))
        if name == "boolean":
            return b"\x01" if text.lower() == "true" else b"\x00"
        if name == "blob" and text.lower().startswith("0x"):
            return bytes.fromhex(text[2:])
        if name == "inet":
            return ipaddress.ip_address(text).packed
        if name == "date":
            if re.fullmatch(r"-?\d+", text):
                return struct.pack(">I", int(text) & 0xFFFFFFFF)
            import datetime
            days = (datetime.date.fromisoformat(text) - datetime.date(1970, 1, 1)).days
            return struct.pack(">I", days + 2**31)
    except (ValueError, struct.error) as e:
        raise CqlError(0x2200, f"Invalid {lit} constant for column of type {name}: {e}")
    raise CqlError(0x2200, f"literals of type {type_name(t)} are not supported here")


def validate(t, b):
    """Raises Invalid when b is not a serialized value of type t (spec section 6)."""
    name = t[0]
    size = FIXED_SIZES.get(name)
    if size is not None:
        if len(b) != size and len(b) != 0:
            raise CqlError(0x2200, f"Expected {size} or 0 byte {name} ({len(b)})")
    elif name in ("text", "varchar"):
        try:
            b.decode()
        except UnicodeDecodeError:
            raise CqlError(0x2200, "String didn't validate.")
    elif name == "ascii":
        if not b.isascii():
            raise CqlError(0x2200, "Invalid byte for ascii")
    elif name == "inet":
        if len(b) not in (0, 4, 16):
            raise CqlError(0x2200, f"Invalid inet of {len(b)} bytes")
    elif name in COLLECTIONS:
        r = Reader(b, 0x2200)
        for _ in range(r.int()):
            for part in t[1:]:
                v = r.value()
                if v is None or v is UNSET:
                    raise CqlError(0x2200, f"null is not supported inside collections ({type_name(t)})")
                validate(part, v)
        if r.pos != len(b):
            raise CqlError(0x2200, f"Unexpected extraneous bytes after {name} value")


def sort_key(t, b):
    """Orders collection elements roughly as Cassandra's comparators do (uuids by bytes)."""
    name = t[0]
    if name in ("int", "bigint", "timestamp", "time", "smallint", "tinyint", "varint") and b:
        return int.from_bytes(b, "big", signed=True)
    if name in ("double", "float") and b:
        return struct.unpack(">d" if name == "double" else ">f", b)[0]
    if name == "timeuuid" and len(b) == 16:
        return uuid.UUID(bytes=b).time
    return b


def normalize(t, b):
    """A set or map as Cassandra stores it: sorted, without duplicate elements or keys."""
    r = Reader(b, 0x2200)
    n = r.int()
    if t[0] == "set":
        items = {r.value(): None for _ in range(n)}
        ordered = sorted(items, key=lambda v: sort_key(t[1], v))
        return int32(len(ordered)) + b"".join(bytes_(v) for v in ordered)
    entries = {}
    for _ in range(n):
        k = r.value()
        entries[k] = r.value()
    ordered = sorted(entries, key=lambda k: sort_key(t[1], k))
    return int32(len(ordered)) + b"".join(bytes_(k) + bytes_(entries[k]) for k in ordered)


def decode(t, b):
    """A serialized value as JSON: see the `get` command."""
    if b is None:
        return None
    name = t[0]
    if name in ("text", "varchar", "ascii"):
        return b.decode(errors="replace")
    if name == "blob":
        return b.hex()
    if not b:
        return None  # An "empty" value (spec section 6).
    if name in ("uuid", "timeuuid"):
        return str(uuid.UUID(bytes=b))
    if name in ("int", "bigint", "timestamp", "time", "smallint", "tinyint", "varint"):
        return int.from_bytes(b, "big", signed=True)
    if name == "double":
        return struct.unpack(">d", b)[0]
    if name == "float":
        return struct.unpack(">f", b)[0]
    if name == "boolean":
        return b != b"\x00"
    if name == "date":
        return struct.unpack(">I", b)[0] - 2**31
    if name == "inet":
        return str(ipaddress.ip_address(b))
    r = Reader(b)
    n = r.int()
    if name == "map":
        out = {}
        for _ in range(n):
            k, v = decode(t[1], r.value()), decode(t[2], r.value())
            out[k if isinstance(k, str) else json.dumps(k)] = v
        return out
    return [decode(t[1], r.value()) for _ in range(n)]


class Reader:
    def __init__(self, data, error=0x000A):
        self.data, self.pos, self.error = data, 0, error

    def take(self, n):
        pos = self.pos
        if n < 0 or pos + n > len(self.data):
            raise CqlError(self.error, "truncated message" if self.error == 0x000A else "truncated value")
        self.pos = pos + n
        return self.data[pos:pos + n]

    def byte(self): return self.take(1)[0]
    def short(self): return struct.unpack(">H", self.take(2))[0]
    def int(self): return struct.unpack(">i", self.take(4))[0]
    def long(self): return struct.unpack(">q", self.take(8))[0]
    def string(self): return self.take(self.short()).decode()
    def long_string(self): return self.take(self.int()).decode()
    def short_bytes(self): return self.take(self.short())

    def value(self):
        n = self.int()
        if n >= 0:
            return self.take(n)
        if n == -1:
            return None
        if n == -2:
            return UNSET
        raise CqlError(self.error, f"invalid [value] length {n}")

    def string_map(self):
        return {self.string(): self.string() for _ in range(self.short())}


class Node:
    def __init__(self, index, token):
        self.index, self.token = index, token
        self.port = None
        self.writes = self.misrouted = self.lz4_in = 0
        self.local = None  # Its system.local RESULT body, made once.


class Table:
    def __init__(self, keyspace, name, columns, pk):
        self.keyspace, self.name = keyspace, name
        self.columns = columns  # [(name, type)]
        self.types = dict(columns)
        self.pk = pk
        self.rows = {}  # pk bytes -> {column: bytes}


class Store:
    def __init__(self):
        self.keyspaces = {"system": {}}
        self.prepared = {}  # id -> Statement
        self.plans = {}  # (keyspace, cql) -> Statement, for INSERT and SELECT over QUERY
        self.faults = []  # ("fail", code, message) or ("drop",)
        self.stalls = 0  # Paged answers still to stall (see the "stall" command).
        self.nodes = []
        self.tokens = []  # Node i's token, ascending.
        self.users = {}  # user -> password; empty: no authentication
        self.grants = {}  # user -> {(permission, resource)}; users not here are superusers
        self.keyspace_params = {}  # keyspace -> (durable_writes, {replication option: text})

    def table(self, keyspace, name):
        if keyspace is None:
            raise CqlError(0x2200, "No keyspace has been specified. USE a keyspace, or "
                                   "explicitly specify keyspace.tablename")
        if keyspace not in self.keyspaces:
            raise CqlError(0x2200, f"Keyspace {keyspace} does not exist")
        t = self.keyspaces[keyspace].get(name)
        if t is None:
            raise CqlError(0x2200, f"unconfigured table {name}")
        return t

    def owner(self, token):
        i = bisect.bisect_left(self.tokens, token)
        return i if i < len(self.tokens) else 0


STORE = Store()
IDENT = r'((?:"(?:[^"]|"")+")|[A-Za-z][A-Za-z0-9_]*)'
QNAME = r"(?:" + IDENT + r"\.)?" + IDENT
LITERAL = r"('(?:[^']|'')*'|[^\s;]+)"


def ident(text):
    """A name as Cassandra stores it: unquoted is lower-cased, "Quoted" kept as is."""
    if text is None:
        return None
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower()


def check_names(cql, m, groups, base=0):
    """Syntax error, as Cassandra's parser gives it, when an unquoted name is reserved (m
    matched cql[base:])."""
    for g in groups:
        word = m.group(g)
        if word and not word.startswith('"') and word.lower() in RESERVED:
            at = base + m.start(g)
            raise CqlError(0x2000, f"line 1:{at} no viable alternative at input '{word}' "
                                   f"({cql[:at]}[{word}]...)")


def rows_result(columns, rows, paging_state=None, keyspace="ks", table="t", no_metadata=False):
    """RESULT Rows with a global table spec, or without metadata (Skip_metadata)."""
    flags = (0x0004 if no_metadata else 0x0001) | (0x0002 if paging_state is not None else 0)
    out = [int32(0x0002), int32(flags), int32(len(columns))]
    if paging_state is not None:
        out.append(bytes_(paging_state))
    if not no_metadata:
        out.append(string(keyspace) + string(table))
        out += [string(name) + option(t) for name, t in columns]
    out.append(int32(len(rows)))
    out += [bytes_(v) for row in rows for v in row]
    return b"".join(out)


def schema_change(change, target, keyspace, name=None):
    out = int32(0x0005) + string(change) + string(target) + string(keyspace)
    return out + (string(name) if name is not None else b"")


def system_local(node):
    cols = [("key", ("text",)), ("bootstrapped", ("text",)), ("broadcast_address", ("inet",)),
            ("cluster_name", ("text",)), ("cql_version", ("text",)), ("data_center", ("text",)),
            ("host_id", ("uuid",)), ("listen_address", ("inet",)), ("native_protocol_version", ("text",)),
            ("partitioner", ("text",)), ("rack", ("text",)), ("release_version", ("text",)),
            ("rpc_address", ("inet",)), ("schema_version", ("uuid",)), ("tokens", ("set", ("text",)))]
    ip = bytes([127, 0, 0, 1])
    tokens = int32(1) + bytes_(str(node.token).encode())
    row = [b"local", b"COMPLETED", ip, b"spate test", b"3.4.5", b"datacenter1",
           uuid.UUID(int=node.index + 1).bytes, ip, b"4", b"org.apache.cassandra.dht.Murmur3Partitioner",
           b"rack1", b"4.0.0", ip, uuid.UUID("5ca1ab1e-0000-4000-8000-000000000000").bytes, tokens]
    return cols, [row]


class Statement:
    """One compiled statement. run() returns a RESULT body."""
    binds = []  # [(name, type)] of the bind markers
    table = None
    result_cols = None
    system = False  # Reads system tables: injected faults pass it by.
    cacheable = False

    def check_access(self, conn):
        pass

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        raise NotImplementedError


class SystemSelect(Statement):
    system = True

    def __init__(self, which):
        self.which = which

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        if self.which == "local":
            if conn.node.local is None:
                cols, rows = system_local(conn.node)
                conn.node.local = (cols, rows)
            cols, rows = conn.node.local
            return rows_result(cols, rows, keyspace="system", table="local", no_metadata=no_metadata)
        if self.which == "peers":
            cols = [("peer", ("inet",)), ("data_center", ("text",)), ("host_id", ("uuid",)),
                    ("rack", ("text",)), ("release_version", ("text",)), ("rpc_address", ("inet",)),
                    ("schema_version", ("uuid",)), ("tokens", ("set", ("text",)))]
            return rows_result(cols, [], keyspace="system", table="peers", no_metadata=no_metadata)
        return rows_result([], [], keyspace="system", table="x", no_metadata=no_metadata)


PERMISSIONS = ("CREATE", "ALTER", "DROP", "SELECT", "MODIFY", "AUTHORIZE")


def resource_name(resource):
    """A resource tuple as Cassandra's DataResource.toString() writes it."""
    if resource[0] == "all":
        return "<all keyspaces>"
    if resource[0] == "keyspace":
        return f"<keyspace {resource[1]}>"
    return f"<table {resource[1]}.{resource[2]}>"


def parse_resource(text):
    if text.lower() == "all":
        return ("all",)
    if "." in text:
        ks, table = text.split(".", 1)
        return ("table", ident(ks), ident(table))
    return ("keyspace", ident(text))


def require(conn, permission, resource):
    """Unauthorized unless the connection's user holds `permission` on `resource` or a parent."""
    grants = STORE.grants.get(conn.user)
    if grants is None:  # No authentication, or a superuser.
        return
    chain = [resource]
    if resource[0] == "table":
        chain.append(("keyspace", resource[1]))
    if resource[0] != "all":
        chain.append(("all",))
    if not any((permission, r) in grants for r in chain):
        raise CqlError(0x2100, f"User {conn.user} has no {permission} permission on "
                               f"{resource_name(resource)} or any of its parents")


def grant_to_creator(conn, resource):
    grants = STORE.grants.get(conn.user)
    if grants is not None:
        grants.update((p, resource) for p in PERMISSIONS)


class CreateKeyspace(Statement):
    def __init__(self, name, if_not_exists, replication, durable_writes):
        self.name, self.if_not_exists = name, if_not_exists
        self.replication, self.durable_writes = replication, durable_writes

    def check_access(self, conn):
        require(conn, "CREATE", ("all",))

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        if self.name in STORE.keyspaces or self.name in SYSTEM_KEYSPACES:
            if self.if_not_exists:
                return VOID
            raise CqlError(0x2400, f"Keyspace {self.name} already exists", string(self.name) + string(""))
        STORE.keyspaces[self.name] = {}
        STORE.keyspace_params[self.name] = (self.durable_writes, self.replication)
        grant_to_creator(conn, ("keyspace", self.name))
        return schema_change("CREATED", "KEYSPACE", self.name)


class Use(Statement):
    def __init__(self, name):
        self.name = name

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        if self.name not in STORE.keyspaces:
            raise CqlError(0x2200, f"Keyspace '{self.name}' does not exist")
        conn.keyspace = self.name
        return int32(0x0003) + string(self.name)


class CreateTable(Statement):
    def __init__(self, keyspace, name, if_not_exists, columns, pk):
        self.keyspace, self.name, self.if_not_exists = keyspace, name, if_not_exists
        self.columns, self.pk = columns, pk

    def check_access(self, conn):
        require(conn, "CREATE", ("keyspace", self.keyspace))

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        ks = self.keyspace
        if ks is None or ks not in STORE.keyspaces:
            raise CqlError(0x2200, f"Keyspace {ks} does not exist")
        if self.name in STORE.keyspaces[ks]:
            if self.if_not_exists:
                return VOID
            raise CqlError(0x2400, f"Table {ks}.{self.name} already exists", string(ks) + string(self.name))
        STORE.keyspaces[ks][self.name] = Table(ks, self.name, self.columns, self.pk)
        grant_to_creator(conn, ("table", ks, self.name))
        return schema_change("CREATED", "TABLE", ks, self.name)


class AlterTableAdd(Statement):
    def __init__(self, keyspace, name, columns):
        self.keyspace, self.name, self.columns = keyspace, name, columns

    def check_access(self, conn):
        require(conn, "ALTER", ("table", self.keyspace, self.name))

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        table = STORE.keyspaces.get(self.keyspace, {}).get(self.name)
        if table is None:
            raise CqlError(0x2200, f"Table '{self.keyspace}.{self.name}' doesn't exist")
        for name, _ in self.columns:
            if name in table.types:
                raise CqlError(0x2200, f"Column with name '{name}' already exists")
        # In place: cached statements of this table see the new columns (as `*` does).
        table.columns.extend(self.columns)
        table.types.update(self.columns)
        return schema_change("UPDATED", "TABLE", self.keyspace, self.name)


class Insert(Statement):
    cacheable = True

    def __init__(self, table, names, literals):
        self.table = table
        self.literal_row = {}
        self.binds = []  # (column, type) in bind order
        self.bound = []  # (column, type, fixed size or None, whether the column is the key)
        for n, lit in zip(names, literals):
            t = table.types[n]
            if lit == "?":
                self.binds.append((n, t))
                self.bound.append((n, t, FIXED_SIZES.get(t[0]), n == table.pk))
            else:
                self.literal_row[n] = encode_literal(t, lit)

    def check_access(self, conn):
        require(conn, "MODIFY", ("table", self.table.keyspace, self.table.name))

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        bound = self.bound
        if len(values) != len(bound):
            raise CqlError(0x2200, f"Invalid amount of bind variables: expected {len(bound)}, got {len(values)}")
        table = self.table
        row = dict(self.literal_row)
        for (name, t, size, is_key), v in zip(bound, values):
            if v is UNSET:
                if is_key:
                    raise CqlError(0x2200, f"Invalid unset value for column {name}")
                continue
            if v is not None:
                if size is None:
                    validate(t, v)
                    if t[0] in ("set", "map"):
                        v = normalize(t, v)
                elif len(v) != size and v:
                    raise CqlError(0x2200, f"Expected {size} or 0 byte {t[0]} ({len(v)})")
            row[name] = v
        key = row.get(table.pk)
        if key is None:
            raise CqlError(0x2200, f"Invalid null value for partition key part {table.pk}")
        if not key:
            raise CqlError(0x2200, "Key may not be empty")
        existing = table.rows.get(key)
        if existing is None:
            table.rows[key] = row
        else:
            existing.update(row)
        node = conn.node
        node.writes += 1
        if len(STORE.nodes) > 1 and STORE.owner(murmur3_token(key)) != node.index:
            node.misrouted += 1
        return VOID


class Select(Statement):
    cacheable = True

    def __init__(self, table, cols, key, limit):
        self.table, self.result_cols, self.key, self.limit = table, cols, key, limit
        # key: None (no WHERE), "?" (a bind marker) or the key's bytes
        self.binds = [(table.pk, table.types[table.pk])] if key == "?" else []

    def check_access(self, conn):
        require(conn, "SELECT", ("table", self.table.keyspace, self.table.name))

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        table = self.table
        if len(values) != len(self.binds):
            raise CqlError(0x2200, f"Invalid amount of bind variables: expected {len(self.binds)}, got {len(values)}")
        if self.key is None:
            rows = list(table.rows.values())
        else:
            key = values[0] if self.key == "?" else self.key
            if key is None or key is UNSET:
                raise CqlError(0x2200, f"Invalid {'null' if key is None else 'unset'} value for "
                                       f"partition key part {table.pk}")
            rows = [table.rows[key]] if key in table.rows else []
        if self.limit is not None:
            rows = rows[:self.limit]
        return page(self.result_cols, rows, page_size, state, table, no_metadata)


def page(cols, rows, page_size, state, table, no_metadata):
    """One page of `rows` (dicts column -> bytes) as a RESULT Rows; the paging state is the
    offset of the next row."""
    if STORE.stalls > 0 and page_size > 0:
        # A broken or hostile server: no rows, and the paging state it was given (or "0").
        STORE.stalls -= 1
        return rows_result(cols, [], state or b"0", table.keyspace, table.name, no_metadata)
    start = int(state.decode()) if state else 0
    end = len(rows) if page_size <= 0 else min(len(rows), start + page_size)
    next_state = str(end).encode() if end < len(rows) else None
    out = [[r.get(n) for n, _ in cols] for r in rows[start:end]]
    return rows_result(cols, out, next_state, table.keyspace, table.name, no_metadata)


# system_schema as Cassandra 4.0 defines it (SchemaKeyspace.java): (columns, key columns).
SCHEMA_TABLES = {
    "system_schema.keyspaces": ("keyspace_name text, durable_writes boolean, replication frozen<map<text, text>>",
                  ["keyspace_name"]),
    "system_schema.tables": ("keyspace_name text, table_name text, additional_write_policy text, "
               "bloom_filter_fp_chance double, caching frozen<map<text, text>>, cdc boolean, "
               "comment text, compaction frozen<map<text, text>>, compression frozen<map<text, text>>, "
               "crc_check_chance double, dclocal_read_repair_chance double, default_time_to_live int, "
               "extensions frozen<map<text, blob>>, flags frozen<set<text>>, gc_grace_seconds int, "
               "id uuid, max_index_interval int, memtable_flush_period_in_ms int, min_index_interval int, "
               "read_repair text, read_repair_chance double, speculative_retry text",
               ["keyspace_name", "table_name"]),
    "system_schema.columns": ("keyspace_name text, table_name text, column_name text, clustering_order text, "
                "column_name_bytes blob, kind text, position int, type text",
                ["keyspace_name", "table_name", "column_name"]),
    # Served without rows: the catalogue has no such objects.
    "system_schema.dropped_columns": ("keyspace_name text, table_name text, column_name text, dropped_time timestamp, "
                        "kind text, type text", ["keyspace_name", "table_name", "column_name"]),
    "system_schema.triggers": ("keyspace_name text, table_name text, trigger_name text, options frozen<map<text, text>>",
                 ["keyspace_name", "table_name", "trigger_name"]),
    "system_schema.views": ("keyspace_name text, view_name text, base_table_id uuid, base_table_name text, "
              "include_all_columns boolean, where_clause text", ["keyspace_name", "view_name"]),
    "system_schema.types": ("keyspace_name text, type_name text, field_names frozen<list<text>>, "
              "field_types frozen<list<text>>", ["keyspace_name", "type_name"]),
    "system_schema.functions": ("keyspace_name text, function_name text, argument_types frozen<list<text>>, "
                  "argument_names frozen<list<text>>, body text, language text, return_type text, "
                  "called_on_null_input boolean", ["keyspace_name", "function_name", "argument_types"]),
    "system_schema.aggregates": ("keyspace_name text, aggregate_name text, argument_types frozen<list<text>>, "
                   "final_func text, initcond text, return_type text, state_func text, state_type text",
                   ["keyspace_name", "aggregate_name", "argument_types"]),
    "system_schema.indexes": ("keyspace_name text, table_name text, index_name text, kind text, "
                "options frozen<map<text, text>>", ["keyspace_name", "table_name", "index_name"]),
    # Cassandra 4.0's virtual tables; the catalogue has none.
    "system_virtual_schema.keyspaces": ("keyspace_name text", ["keyspace_name"]),
    "system_virtual_schema.tables": ("keyspace_name text, table_name text, comment text",
                                     ["keyspace_name", "table_name"]),
    "system_virtual_schema.columns": ("keyspace_name text, table_name text, column_name text, "
                                      "clustering_order text, column_name_bytes blob, kind text, position int, "
                                      "type text", ["keyspace_name", "table_name", "column_name"]),
}
SYSTEM_KEYSPACES = ("system", "system_schema")
LOCAL_STRATEGY = {"class": "org.apache.cassandra.locator.LocalStrategy"}


def schema_table(qualified):
    cols, key = SCHEMA_TABLES[qualified]
    columns = [(c.split()[0], parse_type(c.split(None, 1)[1])) for c in split_top(cols)]
    ks, name = qualified.split(".")
    return Table(ks, name, columns, key[0])


def encode(t, v):
    """A Python value as the bytes of type t (the catalogue's few types)."""
    if v is None:
        return None
    name = t[0]
    if name == "text":
        return v.encode()
    if name == "blob":
        return v
    if name == "boolean":
        return b"\x01" if v else b"\x00"
    if name == "int":
        return int32(v)
    if name == "double":
        return struct.pack(">d", v)
    if name == "uuid":
        return v.bytes
    if name == "set":
        items = sorted(v)
        return int32(len(items)) + b"".join(bytes_(encode(t[1], i)) for i in items)
    if name == "map":
        keys = sorted(v)
        return int32(len(keys)) + b"".join(bytes_(encode(t[1], k)) + bytes_(encode(t[2], v[k])) for k in keys)
    raise ValueError(f"cannot encode {name}")


def catalogue(which):
    """The rows of system_schema.`which`, as {column: python value}, in key order."""
    rows = []
    if which not in ("system_schema.keyspaces", "system_schema.tables", "system_schema.columns"):
        return rows
    which = which.split(".")[1]
    names = sorted(set(STORE.keyspaces) | set(SYSTEM_KEYSPACES))
    for ks in names:
        if which == "keyspaces":
            durable, replication = STORE.keyspace_params.get(ks, (True, LOCAL_STRATEGY))
            rows.append({"keyspace_name": ks, "durable_writes": durable, "replication": replication})
            continue
        for table in sorted(STORE.keyspaces.get(ks, {}).values(), key=lambda t: t.name):
            if which == "tables":
                rows.append({
                    "keyspace_name": ks, "table_name": table.name, "additional_write_policy": "99p",
                    "bloom_filter_fp_chance": 0.01, "caching": {"keys": "ALL", "rows_per_partition": "NONE"},
                    "cdc": False, "comment": "",
                    "compaction": {"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
                                   "max_threshold": "32", "min_threshold": "4"},
                    "compression": {"chunk_length_in_kb": "16",
                                    "class": "org.apache.cassandra.io.compress.LZ4Compressor"},
                    "crc_check_chance": 1.0, "dclocal_read_repair_chance": 0.0, "default_time_to_live": 0,
                    "extensions": {}, "flags": {"compound"}, "gc_grace_seconds": 864000,
                    "id": uuid.uuid5(uuid.NAMESPACE_OID, f"{ks}.{table.name}"), "max_index_interval": 2048,
                    "memtable_flush_period_in_ms": 0, "min_index_interval": 128, "read_repair": "BLOCKING",
                    "read_repair_chance": 0.0, "speculative_retry": "99p"})
                continue
            for column, t in sorted(table.columns):
                is_key = column == table.pk
                rows.append({"keyspace_name": ks, "table_name": table.name, "column_name": column,
                             "clustering_order": "none", "column_name_bytes": column.encode(),
                             "kind": "partition_key" if is_key else "regular", "position": 0 if is_key else -1,
                             "type": type_name(t).replace("varchar", "text")})
    return rows


class SchemaSelect(Statement):
    """SELECT from system_schema.keyspaces, .tables or .columns."""
    system = True
    cacheable = True

    def __init__(self, table, cols, conditions, limit):
        self.table, self.result_cols, self.limit = table, cols, limit
        self.conditions = conditions  # [(column, "?" or the value's bytes)] on the key prefix
        self.binds = [(c, table.types[c]) for c, v in conditions if v == "?"]

    def run(self, conn, values, page_size=0, state=None, no_metadata=False):
        if len(values) != len(self.binds):
            raise CqlError(0x2200, f"Invalid amount of bind variables: expected {len(self.binds)}, got {len(values)}")
        given = iter(values)
        wanted = []
        for column, v in self.conditions:
            v = next(given) if v == "?" else v
            if v is None or v is UNSET:
                raise CqlError(0x2200, f"Invalid {'null' if v is None else 'unset'} value for column {column}")
            wanted.append((column, v.decode(errors="replace")))
        types = self.table.types
        rows = [{n: encode(types[n], v) for n, v in r.items()}
                for r in catalogue(f"{self.table.keyspace}.{self.table.name}") if all(r[c] == v for c, v in wanted)]
        if self.limit is not None:
            rows = rows[:self.limit]
        return page(self.result_cols, rows, page_size, state, self.table, no_metadata)


def compile_schema_select(text, name):
    m = re.fullmatch(r"select\s+(.+?)\s+from\s+\w+\s*\.\s*\w+"
                     r"(?:\s+where\s+(.+?))?(?:\s+limit\s+(\d+))?(\s+allow\s+filtering)?", text, re.I | re.S)
    if not m:
        raise CqlError(0x2000, f"line 1:0 no viable alternative at input '{text[:40]}'")
    table = schema_table(name)
    key = SCHEMA_TABLES[name][1]
    wanted = m.group(1).strip()
    cols = table.columns if wanted == "*" else \
        [(ident(n.strip()), table.types.get(ident(n.strip()))) for n in wanted.split(",")]
    for n, t in cols:
        if t is None:
            raise CqlError(0x2200, f"Undefined column name {n}")
    conditions = []
    if m.group(2):
        for part in re.split(r"\s+and\s+", m.group(2).strip(), flags=re.I):
            cm = re.fullmatch(IDENT + r"\s*=\s*" + LITERAL, part.strip(), re.S)
            if not cm:
                raise CqlError(0x2200, f"only column = value restrictions are supported here: {part}")
            column = ident(cm.group(1))
            if column not in table.types:
                raise CqlError(0x2200, f"Undefined column name {column}")
            lit = cm.group(2)
            conditions.append((column, "?" if lit == "?" else encode_literal(table.types[column], lit)))
        restricted = [c for c, _ in conditions]
        # Cassandra serves a partition key and a clustering prefix; anything else is filtering.
        if restricted != key[:len(restricted)] and not m.group(4):
            raise CqlError(0x2200, "Cannot execute this query as it might involve data filtering and "
                                   "thus may have unpredictable performance. If you want to execute this "
                                   "query despite the performance unpredictability, use ALLOW FILTERING")
    return SchemaSelect(table, cols, conditions, int(m.group(3)) if m.group(3) else None)


def split_top(text, sep=","):
    """Splits on sep outside quotes and brackets."""
    parts, cur, depth, quote = [], "", 0, None
    for c in text:
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "(<[{":
            depth += 1
        elif c in ")>]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += c
    parts.append(cur.strip())
    return parts


def compile_statement(cql, keyspace):
    """Parses one statement (run with `keyspace` as the current one) into a Statement."""
    text = cql.strip().rstrip(";").strip()
    low = text.lower()
    if low.startswith("select"):
        m = re.match(r"select\s.*?\sfrom\s+system(_\w+)?\.(\w+)", low, re.S)
        if m:
            if m.group(1) is None and m.group(2) == "local":
                return SystemSelect("local")
            if m.group(1) is None and m.group(2) == "peers_v2":
                raise CqlError(0x2200, "unconfigured table peers_v2")
            if m.group(1) is None and m.group(2) == "peers":
                return SystemSelect("peers")
            qualified = f"system{m.group(1) or ''}.{m.group(2)}"
            if qualified in SCHEMA_TABLES:
                return compile_schema_select(text, qualified)
            return SystemSelect("other")
    m = re.fullmatch(r"create\s+keyspace\s+(if\s+not\s+exists\s+)?" + IDENT + r"\s+with\s.*", text, re.I | re.S)
    if m:
        check_names(text, m, [2])
        replication = {}
        rm = re.search(r"replication\s*=\s*\{(.*?)\}", text, re.I | re.S)
        if rm:
            for k, quoted, number in re.findall(r"'([^']*)'\s*:\s*(?:'([^']*)'|(\d+))", rm.group(1)):
                replication[k] = quoted or number
        if "class" not in replication:
            raise CqlError(0x2300, "Missing mandatory option 'class'" if rm else
                           "Missing mandatory option 'replication'")
        if "." not in replication["class"]:
            replication["class"] = "org.apache.cassandra.locator." + replication["class"]
        dm = re.search(r"durable_writes\s*=\s*(true|false)", text, re.I)
        return CreateKeyspace(ident(m.group(2)), bool(m.group(1)), replication,
                              not dm or dm.group(1).lower() == "true")
    m = re.fullmatch(r"use\s+" + IDENT, text, re.I)
    if m:
        check_names(text, m, [1])
        return Use(ident(m.group(1)))
    m = re.fullmatch(r"create\s+(?:table|columnfamily)\s+(if\s+not\s+exists\s+)?" + QNAME +
                     r"\s*\((.*)\)(?:\s*with\s.*)?", text, re.I | re.S)
    if m:
        check_names(text, m, [2, 3])
        ks, name = ident(m.group(2)) or keyspace, ident(m.group(3))
        columns, pk, cursor = [], None, m.start(4)
        for p in split_top(m.group(4)):
            base = text.find(p, cursor)
            cursor = base + len(p)
            km = re.fullmatch(r"primary\s+key\s*\(\s*(.*?)\s*\)", p, re.I | re.S)
            if km:
                key = km.group(1)
                if not re.fullmatch(IDENT, key):
                    raise CqlError(0x2200, f"only a single-column primary key is supported here: ({key})")
                pk = ident(key)
                continue
            cm = re.fullmatch(IDENT + r"\s+(.+?)(\s+primary\s+key)?", p, re.I | re.S)
            if not cm:
                raise CqlError(0x2000, f"line 1:0 cannot parse column definition '{p}'")
            check_names(text, cm, [1], base)
            columns.append((ident(cm.group(1)), parse_type(cm.group(2))))
            if cm.group(3):
                pk = ident(cm.group(1))
        if pk is None:
            raise CqlError(0x2200, "No PRIMARY KEY specifed (exactly one required)")
        if pk not in dict(columns):
            raise CqlError(0x2200, f"Unknown definition {pk} referenced in PRIMARY KEY")
        return CreateTable(ks, name, bool(m.group(1)), columns, pk)
    m = re.fullmatch(r"alter\s+(?:table|columnfamily)\s+" + QNAME + r"\s+add\s+(.+)", text, re.I | re.S)
    if m:
        check_names(text, m, [1, 2])
        ks, name = ident(m.group(1)) or keyspace, ident(m.group(2))
        spec = m.group(3).strip()
        if spec.startswith("(") and spec.endswith(")"):
            spec = spec[1:-1]
        columns = []
        for p in split_top(spec):
            cm = re.fullmatch(IDENT + r"\s+(.+)", p, re.S)
            if not cm:
                raise CqlError(0x2000, f"line 1:0 cannot parse column definition '{p}'")
            columns.append((ident(cm.group(1)), parse_type(cm.group(2))))
        return AlterTableAdd(ks, name, columns)
    m = re.fullmatch(r"insert\s+into\s+" + QNAME + r"\s*\((.*?)\)\s*values\s*\((.*)\)"
                     r"(?:\s+using\s+(?:ttl|timestamp)\s+\S+(?:\s+and\s+(?:ttl|timestamp)\s+\S+)?)?",
                     text, re.I | re.S)
    if m:
        check_names(text, m, [1, 2])
        table = STORE.table(ident(m.group(1)) or keyspace, ident(m.group(2)))
        names = [ident(n.strip()) for n in m.group(3).split(",")]
        literals = split_top(m.group(4))
        if len(names) != len(literals):
            raise CqlError(0x2200, "Unmatched column names/values")
        for n in names:
            if n not in table.types:
                raise CqlError(0x2200, f"Undefined column name {n}")
        if table.pk not in names:
            raise CqlError(0x2200, f"Some partition key parts are missing: {table.pk}")
        return Insert(table, names, literals)
    m = re.fullmatch(r"select\s+(.+?)\s+from\s+" + QNAME + r"(?:\s+where\s+" + IDENT + r"\s*=\s*" + LITERAL + ")?"
                     r"(?:\s+limit\s+(\d+))?", text, re.I | re.S)
    if m:
        check_names(text, m, [2, 3])
        table = STORE.table(ident(m.group(2)) or keyspace, ident(m.group(3)))
        wanted = m.group(1).strip()
        cols = table.columns if wanted == "*" else \
            [(ident(n.strip()), table.types.get(ident(n.strip()))) for n in wanted.split(",")]
        for n, t in cols:
            if t is None:
                raise CqlError(0x2200, f"Undefined column name {n}")
        key = None
        if m.group(4):
            if ident(m.group(4)) != table.pk:
                raise CqlError(0x2200, "only the partition key can be restricted here")
            key = "?" if m.group(5) == "?" else encode_literal(table.types[table.pk], m.group(5))
        return Select(table, cols, key, int(m.group(6)) if m.group(6) else None)
    raise CqlError(0x2000, f"line 1:0 no viable alternative at input '{text[:40]}'")


def compile_cached(cql, keyspace):
    plan = STORE.plans.get((keyspace, cql))
    if plan is None:
        plan = compile_statement(cql, keyspace)
        if plan.cacheable:
            if len(STORE.plans) > 2000:
                STORE.plans.clear()
            STORE.plans[(keyspace, cql)] = plan
    return plan


def query_params(r):
    """<query_parameters>: (consistency, values, names or None, skip_metadata, page_size, paging_state)."""
    consistency = r.short()
    flags = r.byte()
    values, names, page_size, state = [], None, 0, None
    if flags & 0x01:
        n = r.short()
        if flags & 0x40:
            names = []
            for _ in range(n):
                names.append(r.string().lower())
                values.append(r.value())
        else:  # The hot path of every EXECUTE: read the values without method calls.
            data, pos, end = r.data, r.pos, len(r.data)
            unpack = INT.unpack_from
            for _ in range(n):
                if pos + 4 > end:
                    raise CqlError(0x000A, "truncated message")
                length = unpack(data, pos)[0]
                pos += 4
                if length >= 0:
                    if pos + length > end:
                        raise CqlError(0x000A, "truncated message")
                    values.append(data[pos:pos + length])
                    pos += length
                elif length == -1:
                    values.append(None)
                elif length == -2:
                    values.append(UNSET)
                else:
                    raise CqlError(0x000A, f"invalid [value] length {length}")
            r.pos = pos
    if flags & 0x04:
        page_size = r.int()
    if flags & 0x08:
        state = r.value()
    if flags & 0x10:
        r.short()
    if flags & 0x20:
        r.long()
    return consistency, values, names, bool(flags & 0x02), page_size, state


def prepared_result(pid, stmt):
    binds, table, result_cols = stmt.binds, stmt.table, stmt.result_cols
    out = int32(0x0004) + short(len(pid)) + pid
    ks, name = (table.keyspace, table.name) if table else ("system", "local")
    pk_indexes = [i for i, (n, _) in enumerate(binds) if table and n == table.pk]
    out += int32(0x0001) + int32(len(binds)) + int32(len(pk_indexes))
    out += b"".join(short(i) for i in pk_indexes)
    out += string(ks) + string(name)
    for n, t in binds:
        out += string(n) + option(t)
    if result_cols:
        out += int32(0x0001) + int32(len(result_cols)) + string(ks) + string(name)
        for n, t in result_cols:
            out += string(n) + option(t)
    else:
        out += int32(0x0004) + int32(0)
    return out


def fault_extra(code, consistency, write_type, pid):
    """The rest of an injected ERROR's body (spec section 9)."""
    block_for = BLOCK_FOR.get(consistency, 1)
    cl = short(consistency)
    if code == 0x1000:  # Unavailable: <cl><required><alive>
        return cl + int32(block_for) + int32(block_for - 1)
    if code == 0x1100:  # Write_timeout: <cl><received><blockfor><writeType>
        return cl + int32(0) + int32(block_for) + string(write_type)
    if code == 0x1200:  # Read_timeout: <cl><received><blockfor><data_present>
        return cl + int32(0) + int32(block_for) + b"\x00"
    if code == 0x1300:  # Read_failure: <cl><received><blockfor><numfailures><data_present>
        return cl + int32(0) + int32(block_for) + int32(1) + b"\x00"
    if code == 0x1400:  # Function_failure: <keyspace><function><arg_types>
        return string("ks") + string("fn") + string_list([])
    if code == 0x1500:  # Write_failure: <cl><received><blockfor><numfailures><writeType>
        return cl + int32(0) + int32(block_for) + int32(1) + string(write_type)
    if code == 0x2400:  # Already_exists: <ks><table>
        return string("ks") + string("")
    if code == 0x2500:  # Unprepared: <id>
        return short(len(pid)) + pid
    return b""  # Overloaded 0x1001, Is_bootstrapping 0x1002, Truncate_error 0x1003, ...


def apply_fault(consistency, write_type, pid=b""):
    if not STORE.faults:
        return
    fault = STORE.faults.pop(0)
    if fault[0] == "drop":
        raise Drop()
    raise CqlError(fault[1], fault[2], fault_extra(fault[1], consistency, write_type, pid))


def unprepared(pid):
    return CqlError(0x2500, f"Prepared query with ID {pid.hex()} not found (either the query was not "
                            "prepared on this host (maybe the host has been restarted?) or you have "
                            "prepared too many queries and it has been evicted from the internal cache)",
                    short(len(pid)) + pid)


class Connection(asyncio.Protocol):
    def __init__(self, node):
        self.node = node
        self.keyspace = None
        self.buf = b""
        self.transport = None
        self.closed = False
        self.started = False  # STARTUP answered
        self.authenticating = False  # AUTHENTICATE sent, no AUTH_SUCCESS yet
        self.user = None
        self.lz4 = False  # Compression agreed: requests may be compressed.
        self.compress = False  # Responses are compressed.

    def connection_made(self, transport):
        self.transport = transport

    def pause_writing(self):  # The client reads slower than it sends: stop reading.
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()

    def data_received(self, data):
        if self.closed:
            return
        buf = self.buf + data if self.buf else data
        n, pos, out = len(buf), 0, []
        while n - pos >= 9:
            version, flags, stream, opcode, length = HEADER.unpack_from(buf, pos)
            if length < 0 or length > MAX_FRAME:
                out.append(self.respond(stream, 0x00, int32(0x000A) + string(f"Invalid frame body length {length}")))
                self.closed = True
                break
            end = pos + 9 + length
            if end > n:
                break
            answer = self.request(version, flags, stream, opcode, buf[pos + 9:end])
            pos = end
            if answer is DROP:
                self.closed = True
                break
            if answer is not None:
                out.append(answer)
        self.buf = buf[pos:] if pos < n and not self.closed else b""
        if out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self.closed:
            self.transport.close()

    def respond(self, stream, opcode, body):
        flags = 0
        if self.compress:
            body = struct.pack(">I", len(body)) + lz4_block.compress(body, store_size=False)
            flags = 0x01
        return HEADER.pack(0x84, flags, stream, opcode, len(body)) + body

    def request(self, version, flags, stream, opcode, body):
        try:
            if version != 0x04:
                raise CqlError(0x000A, f"Invalid or unsupported protocol version ({version & 0x7f}); "
                                       "supported versions are (4/v4)")
            if flags & 0x01:
                if not self.lz4:
                    raise CqlError(0x000A, "compressed frame, but no compression was agreed in STARTUP")
                self.node.lz4_in += 1
                if len(body) < 4:
                    raise CqlError(0x000A, "compressed body shorter than its length prefix")
                size = struct.unpack_from(">I", body)[0]
                try:
                    body = lz4_block.decompress(body[4:], uncompressed_size=size) if size else b""
                except Exception as e:
                    raise CqlError(0x000A, f"cannot decompress an lz4 body: {e}")
            r = Reader(body)
            if flags & 0x04 and opcode in (0x07, 0x09, 0x0A, 0x0D):  # custom payload: ignored
                for _ in range(r.short()):
                    r.string()
                    r.value()
            if opcode == 0x05:  # OPTIONS
                return self.respond(stream, 0x06, short(3) + string("CQL_VERSION") + string_list(["3.4.5"]) +
                                    string("COMPRESSION") + string_list(["lz4"] if lz4_block else []) +
                                    string("PROTOCOL_VERSIONS") + string_list(["4/v4"]))
            if opcode == 0x01:
                return self.startup(stream, r)
            if opcode == 0x0F:
                return self.auth_response(stream, r)
            name = OPCODE_NAMES.get(opcode, f"opcode {opcode:#04x}")
            if not self.started:
                raise CqlError(0x000A, f"Unexpected message {name}, expecting STARTUP or OPTIONS")
            if self.authenticating:
                raise CqlError(0x000A, f"Authentication is required: {name} before a successful AUTH_RESPONSE")
            if opcode == 0x0A:
                return self.execute(stream, r)
            if opcode == 0x07:
                return self.query(stream, r)
            if opcode == 0x09:
                return self.prepare(stream, r)
            if opcode == 0x0D:
                return self.batch(stream, r)
            if opcode == 0x0B:  # REGISTER: no events are ever pushed
                return self.respond(stream, 0x02, b"")
            raise CqlError(0x000A, f"unsupported opcode {opcode:#04x}")
        except Drop:
            return DROP
        except CqlError as e:
            return self.respond(stream, 0x00, int32(e.code) + string(e.message) + e.extra)
        except Exception as e:  # A bug here: tell the client, keep the connection.
            traceback.print_exc(file=sys.stderr)
            return self.respond(stream, 0x00, int32(0x0000) + string(f"test server error: {e!r}"))

    def startup(self, stream, r):
        if self.started:
            raise CqlError(0x000A, "Unexpected message STARTUP, the connection is already initialized")
        options = {k.upper(): v for k, v in r.string_map().items()}
        if "CQL_VERSION" not in options:
            raise CqlError(0x000A, "Missing value CQL_VERSION in STARTUP message")
        compression = options.get("COMPRESSION")
        if compression is not None:
            compression = compression.lower()
            if compression != "lz4" or lz4_block is None:
                raise CqlError(0x000A, f"Unknown compression algorithm: {compression}")
        self.started = True
        if STORE.users:
            self.authenticating = True
            answer = self.respond(stream, 0x03, string(AUTHENTICATOR))
        else:
            answer = self.respond(stream, 0x02, b"")
        # The STARTUP exchange itself is never compressed; everything after it is.
        self.lz4 = self.compress = compression == "lz4"
        return answer

    def auth_response(self, stream, r):
        if not self.authenticating:
            raise CqlError(0x000A, "Unexpected message AUTH_RESPONSE: no authentication is under way")
        token = r.value()
        parts = token.split(b"\x00") if isinstance(token, bytes) else []
        if len(parts) != 3:
            raise CqlError(0x0100, "Authentication ID must not be null" if len(parts) < 2
                           else "Password must not be null")
        user, password = parts[1].decode(errors="replace"), parts[2].decode(errors="replace")
        if STORE.users.get(user) != password:
            raise CqlError(0x0100, f"Provided username {user} and/or password are incorrect")
        self.authenticating = False
        self.user = user
        return self.respond(stream, 0x10, bytes_(None))

    def execute(self, stream, r):
        pid = r.short_bytes()
        consistency, values, names, skip, page_size, state = query_params(r)
        if STORE.faults:
            apply_fault(consistency, "SIMPLE", pid)
        stmt = STORE.prepared.get(pid)
        if stmt is None:
            raise unprepared(pid)
        if names is not None:
            values = reorder(stmt, names, values)
        stmt.check_access(self)
        return self.respond(stream, 0x08, stmt.run(self, values, page_size, state, skip))

    def query(self, stream, r):
        cql = r.long_string()
        consistency, values, names, skip, page_size, state = query_params(r)
        stmt = compile_cached(cql, self.keyspace)
        if names is not None:
            values = reorder(stmt, names, values)
        stmt.check_access(self)
        if STORE.faults and not stmt.system:
            if STORE.faults[0][0] == "applied":  # Done, as if by another client first; then the error.
                fault = STORE.faults.pop(0)
                stmt.run(self, values, page_size, state, skip)
                raise CqlError(fault[1], fault[2], fault_extra(fault[1], consistency, "SIMPLE", b""))
            apply_fault(consistency, "SIMPLE")
        return self.respond(stream, 0x08, stmt.run(self, values, page_size, state, skip))

    def prepare(self, stream, r):
        cql = r.long_string()
        stmt = compile_statement(cql, self.keyspace)
        pid = hashlib.md5(((self.keyspace or "") + cql).encode()).digest()
        STORE.prepared[pid] = stmt
        return self.respond(stream, 0x08, prepared_result(pid, stmt))

    def batch(self, stream, r):
        kind = r.byte()
        items = []
        for _ in range(r.short()):
            if r.byte() == 0:
                item = (r.long_string(), None)
            else:
                item = (None, r.short_bytes())
            items.append((item, [r.value() for _ in range(r.short())]))
        consistency = r.short()
        flags = r.byte()
        if flags & 0x10:
            r.short()
        if flags & 0x20:
            r.long()
        if STORE.faults:
            pid = next((p for (_, p), _ in items if p is not None), b"")
            apply_fault(consistency, {0: "BATCH", 1: "UNLOGGED_BATCH", 2: "COUNTER"}.get(kind, "BATCH"), pid)
        plans = []
        for (cql, pid), values in items:
            if pid is not None:
                stmt = STORE.prepared.get(pid)
                if stmt is None:
                    raise unprepared(pid)
            else:
                stmt = compile_cached(cql, self.keyspace)
            if not isinstance(stmt, Insert):
                raise CqlError(0x2200, "Invalid statement in batch: only UPDATE, INSERT and DELETE "
                                       "statements are allowed.")
            stmt.check_access(self)
            plans.append((stmt, values))
        for stmt, values in plans:
            stmt.run(self, values)
        return self.respond(stream, 0x08, VOID)


def reorder(stmt, names, values):
    """Named values (flag 0x40) in bind marker order."""
    given = dict(zip(names, values))
    out = []
    for n, _ in stmt.binds:
        if n not in given:
            raise CqlError(0x2200, f"Invalid unset value for column {n}")
        out.append(given[n])
    return out


def find_table(qualified):
    if "." not in qualified:
        return None
    ks, name = qualified.split(".", 1)
    for k, t in ((ks, name), (ident(ks), ident(name))):
        table = STORE.keyspaces.get(k, {}).get(t)
        if table is not None:
            return table
    return None


def get_row(qualified, key_text):
    table = find_table(qualified)
    if table is None:
        return f"error: no table {qualified}"
    t = table.types[table.pk]
    try:
        if t[0] in ("text", "varchar", "ascii"):
            key = key_text.encode()
        else:
            key = encode_literal(t, key_text)
    except (CqlError, ValueError) as e:
        return f"error: bad key {key_text!r}: {e}"
    row = table.rows.get(key)
    if row is None:
        return "null"
    return json.dumps({n: decode(ct, row.get(n)) for n, ct in table.columns})


def command(line):
    """One stdin command line to its reply, or None for quit."""
    words = line.split()
    if not words:
        return ""
    cmd = words[0]
    if cmd == "quit":
        return None
    if cmd == "fail" and len(words) >= 3:
        message = line.strip().split(None, 3)[3] if len(words) > 3 else "injected by the test"
        STORE.faults += [("fail", int(words[1], 16), message)] * int(words[2])
        return "ok"
    if cmd == "applied" and len(words) >= 3:
        message = line.strip().split(None, 3)[3] if len(words) > 3 else "injected by the test"
        STORE.faults += [("applied", int(words[1], 16), message)] * int(words[2])
        return "ok"
    if cmd == "drop" and len(words) == 2:
        STORE.faults += [("drop",)] * int(words[1])
        return "ok"
    if cmd == "stall" and len(words) == 2:
        STORE.stalls = int(words[1])
        return "ok"
    if cmd == "rows" and len(words) == 2:
        t = find_table(words[1])
        return f"rows={len(t.rows) if t else -1}"
    if cmd == "get" and len(words) >= 3:
        return get_row(words[1], line.strip().split(None, 2)[2])
    if cmd == "stats":
        return " ".join(f"node={n.index} writes={n.writes} misrouted={n.misrouted} lz4_in={n.lz4_in}"
                        for n in STORE.nodes)
    if cmd == "forget":
        STORE.prepared.clear()
        return "ok"
    return f"error: unknown command {line.strip()}"


async def commands():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        try:
            reply = command(line)
        except (ValueError, IndexError) as e:
            reply = f"error: {e}"
        if reply is None:
            print("ok", flush=True)
            return
        if reply:
            print(reply, flush=True)


def node_tokens(n):
    step = 2**64 // n
    return [-2**63 + (i + 1) * step - 1 for i in range(n - 1)] + [2**63 - 1]


async def main():
    parser = argparse.ArgumentParser(description="CQL native protocol v4 test server (127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=0, help="first node's port (default: ephemeral)")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--auth", default="", help="USER:PASSWORD[,USER:PASSWORD...]")
    parser.add_argument("--read-only", default="", help="USER[,USER...] with SELECT permission only")
    parser.add_argument("--grant", action="append", default=[],
                        help="USER:PERMS:RESOURCE (PERMS: CREATE,ALTER,DROP,SELECT,MODIFY,AUTHORIZE or ALL; "
                             "RESOURCE: all, KS or KS.TABLE); repeatable")
    args = parser.parse_args()
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    for pair in filter(None, args.auth.split(",")):
        user, sep, password = pair.partition(":")
        if not sep:
            parser.error(f"--auth wants USER:PASSWORD, got {pair}")
        STORE.users[user] = password
    for user in filter(None, args.read_only.split(",")):
        STORE.grants.setdefault(user, set()).add(("SELECT", ("all",)))
    for grant in args.grant:
        parts = grant.split(":")
        if len(parts) != 3:
            parser.error(f"--grant wants USER:PERMS:RESOURCE, got {grant}")
        user, perms, resource = parts
        perms = [p.strip().upper() for p in perms.split(",")]
        if "ALL" in perms:
            perms = list(PERMISSIONS)
        for p in perms:
            if p not in PERMISSIONS:
                parser.error(f"--grant: unknown permission {p}")
        STORE.grants.setdefault(user, set()).update((p, parse_resource(resource)) for p in perms)
    STORE.tokens = node_tokens(args.nodes)
    STORE.nodes = [Node(i, t) for i, t in enumerate(STORE.tokens)]
    loop = asyncio.get_running_loop()
    servers = []
    for node in STORE.nodes:
        port = args.port + node.index if args.port else 0
        server = await loop.create_server(lambda node=node: Connection(node), "127.0.0.1", port)
        node.port = server.sockets[0].getsockname()[1]
        servers.append(server)
    ports = [n.port for n in STORE.nodes]
    print(f"port={ports[0]} ports={','.join(map(str, ports))}", flush=True)
    await commands()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
