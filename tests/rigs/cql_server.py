#!/usr/bin/python3
"""A CQL native protocol v4 test server that keeps rows in memory.

Written independently of spate's client (from native_protocol_v4.spec), so that the two
meeting proves something; tests/integration/cql_server_test.py runs the DataStax Python driver
against it to prove it is faithful enough for a real driver.

Speaks: OPTIONS, STARTUP, REGISTER, QUERY, PREPARE, EXECUTE, BATCH; answers the driver's
system.local / system.peers queries; keeps keyspaces, tables (one-column primary key) and
rows; SELECT with an optional `WHERE pk = ?` and LIMIT, with paging. Listens on 127.0.0.1
only. Prints "port=N" once listening; reads commands on stdin, one reply line each ("ok"):

  fail CODE N       the next N QUERY/EXECUTE/BATCH requests get ERROR CODE (hex, e.g. 1001
                    Overloaded, 1100 Write_timeout, 2500 Unprepared)
  drop N            the connection of the next N such requests is closed without an answer
  rows KS.TABLE     replies "rows=COUNT"
  quit

Usage: cql_server.py [--port N]
"""

import asyncio
import re
import struct
import sys
import uuid

# Type option ids (spec section 4.2.5.2).
TYPES = {"ascii": 0x01, "bigint": 0x02, "blob": 0x03, "boolean": 0x04, "double": 0x07,
         "int": 0x09, "timestamp": 0x0B, "uuid": 0x0C, "text": 0x0D, "varchar": 0x0D,
         "timeuuid": 0x0F, "inet": 0x10, "date": 0x11}
COLLECTIONS = {"list": 0x20, "map": 0x21, "set": 0x22}


class CqlError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def short(v): return struct.pack(">H", v)
def int32(v): return struct.pack(">i", v)
def string(s): b = s.encode(); return short(len(b)) + b
def long_string(s): b = s.encode(); return int32(len(b)) + b
def bytes_(b): return int32(-1) if b is None else int32(len(b)) + b
def string_list(items): return short(len(items)) + b"".join(string(i) for i in items)


def option(t):
    """[option] for a parsed type: ("text",) or ("list", inner) or ("map", k, v)."""
    if t[0] in COLLECTIONS:
        return short(COLLECTIONS[t[0]]) + b"".join(option(p) for p in t[1:])
    return short(TYPES[t[0]])


def parse_type(text):
    text = text.strip().lower().replace(" ", "")
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


def encode_literal(t, lit):
    """A CQL literal (as text) to the bytes of type t."""
    name = t[0]
    if lit.lower() == "null":
        return None
    if name in ("text", "varchar", "ascii"):
        if not (lit.startswith("'") and lit.endswith("'")):
            raise CqlError(0x2200, f"expected a string literal, got {lit}")
        return lit[1:-1].replace("''", "'").encode()
    if name in ("uuid", "timeuuid"):
        return uuid.UUID(lit).bytes
    if name == "int":
        return struct.pack(">i", int(lit))
    if name in ("bigint", "timestamp"):
        return struct.pack(">q", int(lit))
    if name == "double":
        return struct.pack(">d", float(lit))
    if name == "boolean":
        return b"\x01" if lit.lower() == "true" else b"\x00"
    raise CqlError(0x2200, f"literals of type {name} are not supported here")


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise CqlError(0x000A, "truncated message")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def byte(self): return self.take(1)[0]
    def short(self): return struct.unpack(">H", self.take(2))[0]
    def int(self): return struct.unpack(">i", self.take(4))[0]
    def long(self): return struct.unpack(">q", self.take(8))[0]
    def string(self): return self.take(self.short()).decode()
    def long_string(self): return self.take(self.int()).decode()
    def short_bytes(self): return self.take(self.short())

    def value(self):
        n = self.int()
        return None if n < 0 else self.take(n)

    def string_map(self):
        return {self.string(): self.string() for _ in range(self.short())}


class Table:
    def __init__(self, keyspace, name, columns, pk):
        self.keyspace, self.name = keyspace, name
        self.columns = columns  # [(name, type)]
        self.pk = pk
        self.rows = {}  # pk bytes -> {column: bytes}


class Store:
    def __init__(self):
        self.keyspaces = {"system": {}}
        self.prepared = {}  # id -> (cql, bind columns [(name, type)], table)
        self.faults = []  # ("fail", code) or ("drop",)

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


STORE = Store()
NAME = r"([A-Za-z_][A-Za-z0-9_]*)"
QNAME = r"(?:" + NAME + r"\.)?" + NAME


def rows_result(columns, rows, paging_state=None, keyspace="ks", table="t"):
    """RESULT Rows with a global table spec."""
    flags = 0x0001 | (0x0002 if paging_state is not None else 0)
    out = int32(0x0002) + int32(flags) + int32(len(columns))
    if paging_state is not None:
        out += bytes_(paging_state)
    out += string(keyspace) + string(table)
    for name, t in columns:
        out += string(name) + option(t)
    out += int32(len(rows))
    for row in rows:
        out += b"".join(bytes_(v) for v in row)
    return out


def schema_change(change, target, keyspace, name=None):
    out = int32(0x0005) + string(change) + string(target) + string(keyspace)
    return out + (string(name) if name is not None else b"")


def system_local():
    cols = [("key", ("text",)), ("bootstrapped", ("text",)), ("broadcast_address", ("inet",)),
            ("cluster_name", ("text",)), ("cql_version", ("text",)), ("data_center", ("text",)),
            ("host_id", ("uuid",)), ("listen_address", ("inet",)), ("native_protocol_version", ("text",)),
            ("partitioner", ("text",)), ("rack", ("text",)), ("release_version", ("text",)),
            ("rpc_address", ("inet",)), ("schema_version", ("uuid",)), ("tokens", ("set", ("text",)))]
    ip = bytes([127, 0, 0, 1])
    tokens = int32(1) + bytes_(b"0")
    row = [b"local", b"COMPLETED", ip, b"spate test", b"3.4.5", b"datacenter1",
           uuid.UUID(int=1).bytes, ip, b"4", b"org.apache.cassandra.dht.Murmur3Partitioner",
           b"rack1", b"4.0.0", ip, uuid.UUID(int=2).bytes, tokens]
    return rows_result(cols, [row], keyspace="system", table="local")


class Session:
    def __init__(self):
        self.keyspace = None

    def query(self, cql, values, page_size=0, paging_state=None, prepare_only=False):
        """Runs (or, with prepare_only, plans) one statement; returns a RESULT body or, for
        prepare_only, (bind columns, result columns, table)."""
        text = cql.strip().rstrip(";").strip()
        low = text.lower()
        if re.match(r"select .* from system\.local", low):
            return ([], None) if prepare_only else system_local()
        if re.match(r"select .* from system\.peers_v2", low):
            raise CqlError(0x2200, "unconfigured table peers_v2")
        if re.match(r"select .* from system\.peers", low):
            cols = [("peer", ("inet",)), ("data_center", ("text",)), ("host_id", ("uuid",)),
                    ("rack", ("text",)), ("release_version", ("text",)), ("rpc_address", ("inet",)),
                    ("schema_version", ("uuid",)), ("tokens", ("set", ("text",)))]
            return ([], None) if prepare_only else rows_result(cols, [], keyspace="system", table="peers")
        if re.match(r"select .* from system", low):
            return ([], None) if prepare_only else rows_result([], [], keyspace="system", table="x")
        m = re.fullmatch(r"create keyspace (if not exists )?" + NAME + r" with .*", text, re.I | re.S)
        if m:
            if prepare_only:
                return ([], None)
            ks = m.group(2)
            if ks in STORE.keyspaces:
                if m.group(1):
                    return int32(0x0001)
                raise CqlError(0x2400, f"Keyspace {ks} already exists")
            STORE.keyspaces[ks] = {}
            return schema_change("CREATED", "KEYSPACE", ks)
        m = re.fullmatch(r"use " + NAME, text, re.I)
        if m:
            if m.group(1) not in STORE.keyspaces:
                raise CqlError(0x2200, f"Keyspace '{m.group(1)}' does not exist")
            self.keyspace = m.group(1)
            return int32(0x0003) + string(self.keyspace)
        m = re.fullmatch(r"create table (if not exists )?" + QNAME + r"\s*\((.*)\)(?: with .*)?", text,
                         re.I | re.S)
        if m:
            if prepare_only:
                return ([], None)
            ks, name = m.group(2) or self.keyspace, m.group(3)
            if ks is None or ks not in STORE.keyspaces:
                raise CqlError(0x2200, f"Keyspace {ks} does not exist")
            columns, pk = [], None
            depth, part, parts = 0, "", []
            for c in m.group(4):
                depth += c in "(<"
                depth -= c in ")>"
                if c == "," and depth == 0:
                    parts.append(part)
                    part = ""
                else:
                    part += c
            parts.append(part)
            for p in (x.strip() for x in parts):
                km = re.fullmatch(r"primary key\s*\(\s*" + NAME + r"\s*\)", p, re.I)
                if km:
                    pk = km.group(1)
                    continue
                cm = re.fullmatch(NAME + r"\s+(.+?)(\s+primary key)?", p, re.I)
                if not cm:
                    raise CqlError(0x2000, f"line 1:0 cannot parse column definition '{p}'")
                columns.append((cm.group(1), parse_type(cm.group(2))))
                if cm.group(3):
                    pk = cm.group(1)
            if pk is None:
                raise CqlError(0x2200, "No PRIMARY KEY specifed (exactly one required)")
            if name in STORE.keyspaces[ks]:
                if m.group(1):
                    return int32(0x0001)
                raise CqlError(0x2400, f"Table {ks}.{name} already exists")
            STORE.keyspaces[ks][name] = Table(ks, name, columns, pk)
            return schema_change("CREATED", "TABLE", ks, name)
        m = re.fullmatch(r"insert into " + QNAME + r"\s*\((.*?)\)\s*values\s*\((.*)\)", text, re.I | re.S)
        if m:
            table = STORE.table(m.group(1) or self.keyspace, m.group(2))
            names = [n.strip() for n in m.group(3).split(",")]
            literals = split_literals(m.group(4))
            types = dict(table.columns)
            for n in names:
                if n not in types:
                    raise CqlError(0x2200, f"Undefined column name {n}")
            binds = [(n, types[n]) for n, lit in zip(names, literals) if lit == "?"]
            if prepare_only:
                return (binds, table)
            row, vi = {}, 0
            for n, lit in zip(names, literals):
                if lit == "?":
                    if vi >= len(values):
                        raise CqlError(0x2200, "not enough bound values")
                    row[n] = values[vi]
                    vi += 1
                else:
                    row[n] = encode_literal(types[n], lit)
            key = row.get(table.pk)
            if key is None:
                raise CqlError(0x2200, f"Invalid null value for partition key part {table.pk}")
            table.rows.setdefault(key, {}).update(row)
            return int32(0x0001)
        m = re.fullmatch(r"select (.+?) from " + QNAME + r"(?: where " + NAME + r"\s*=\s*(\S+))?"
                         r"(?: limit (\d+))?", text, re.I | re.S)
        if m:
            table = STORE.table(m.group(2) or self.keyspace, m.group(3))
            wanted = m.group(1).strip()
            cols = table.columns if wanted == "*" else \
                [(n.strip(), dict(table.columns).get(n.strip())) for n in wanted.split(",")]
            for n, t in cols:
                if t is None:
                    raise CqlError(0x2200, f"Undefined column name {n}")
            binds = []
            if m.group(4):
                if m.group(4) != table.pk:
                    raise CqlError(0x2200, "only the partition key can be restricted here")
                if m.group(5) == "?":
                    binds = [(table.pk, dict(table.columns)[table.pk])]
            if prepare_only:
                return (binds, table, cols)
            rows = list(table.rows.values())
            if m.group(4):
                key = values[0] if m.group(5) == "?" else encode_literal(dict(table.columns)[table.pk], m.group(5))
                rows = [table.rows[key]] if key in table.rows else []
            if m.group(6):
                rows = rows[:int(m.group(6))]
            start = int(paging_state.decode()) if paging_state else 0
            end = len(rows) if page_size <= 0 else min(len(rows), start + page_size)
            state = str(end).encode() if end < len(rows) else None
            out = [[r.get(n) for n, _ in cols] for r in rows[start:end]]
            return rows_result(cols, out, state, table.keyspace, table.name)
        raise CqlError(0x2000, f"line 1:0 no viable alternative at input '{text[:40]}'")


def split_literals(text):
    out, cur, quoted = [], "", False
    for c in text:
        if c == "'":
            quoted = not quoted
        if c == "," and not quoted:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
    out.append(cur.strip())
    return out


def query_params(r):
    """<query_parameters>: (consistency, values, page_size, paging_state)."""
    consistency = r.short()
    flags = r.byte()
    values, page_size, state = [], 0, None
    if flags & 0x01:
        for _ in range(r.short()):
            if flags & 0x40:
                r.string()
            values.append(r.value())
    if flags & 0x04:
        page_size = r.int()
    if flags & 0x08:
        state = r.value()
    return consistency, values, page_size, state


def prepared_result(pid, binds, table, result_cols):
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


async def handle(reader, writer):
    session = Session()

    async def send(stream, opcode, body):
        writer.write(struct.pack(">BBhBi", 0x84, 0, stream, opcode, len(body)) + body)
        await writer.drain()

    try:
        while True:
            header = await reader.readexactly(9)
            version, flags, stream, opcode, length = struct.unpack(">BBhBi", header)
            body = await reader.readexactly(length)
            if version != 0x04:
                await send(stream, 0x00, int32(0x000A) + string(
                    f"Invalid or unsupported protocol version ({version & 0x7f}); supported versions are (4/v4)"))
                continue
            try:
                r = Reader(body)
                if opcode == 0x05:  # OPTIONS
                    out = short(2) + string("CQL_VERSION") + string_list(["3.4.5"]) + \
                        string("COMPRESSION") + string_list([])
                    await send(stream, 0x06, out)
                    continue
                if opcode in (0x01, 0x0B):  # STARTUP, REGISTER
                    await send(stream, 0x02, b"")
                    continue
                if opcode in (0x07, 0x0A, 0x0D) and STORE.faults:
                    fault = STORE.faults.pop(0)
                    if fault[0] == "drop":
                        writer.close()
                        return
                    raise CqlError(fault[1], "injected by the test")
                if opcode == 0x07:  # QUERY
                    cql = r.long_string()
                    _, values, page_size, state = query_params(r)
                    await send(stream, 0x08, session.query(cql, values, page_size, state))
                elif opcode == 0x09:  # PREPARE
                    cql = r.long_string()
                    plan = session.query(cql, [], prepare_only=True)
                    binds, table = plan[0], plan[1]
                    result_cols = plan[2] if len(plan) > 2 else None
                    pid = uuid.uuid5(uuid.NAMESPACE_OID, cql).bytes
                    STORE.prepared[pid] = cql
                    await send(stream, 0x08, prepared_result(pid, binds, table, result_cols))
                elif opcode == 0x0A:  # EXECUTE
                    pid = r.short_bytes()
                    if pid not in STORE.prepared:
                        raise UnpreparedError(pid)
                    _, values, page_size, state = query_params(r)
                    await send(stream, 0x08, session.query(STORE.prepared[pid], values, page_size, state))
                elif opcode == 0x0D:  # BATCH
                    r.byte()
                    for _ in range(r.short()):
                        kind = r.byte()
                        if kind == 0:
                            cql = r.long_string()
                        else:
                            pid = r.short_bytes()
                            if pid not in STORE.prepared:
                                raise UnpreparedError(pid)
                            cql = STORE.prepared[pid]
                        values = [r.value() for _ in range(r.short())]
                        session.query(cql, values)
                    await send(stream, 0x08, int32(0x0001))
                else:
                    raise CqlError(0x000A, f"unsupported opcode {opcode}")
            except UnpreparedError as e:
                await send(stream, 0x00, int32(0x2500) + string("Prepared query with ID not found") +
                           short(len(e.pid)) + e.pid)
            except CqlError as e:
                body = int32(e.code) + string(e.message)
                if e.code == 0x1000:  # Unavailable: <cl><required><alive>
                    body += short(6) + int32(2) + int32(1)
                elif e.code == 0x1100:  # Write_timeout: <cl><received><blockfor><writeType>
                    body += short(6) + int32(0) + int32(1) + string("SIMPLE")
                elif e.code == 0x2500:
                    body += short(0)
                await send(stream, 0x00, body)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


class UnpreparedError(Exception):
    def __init__(self, pid):
        super().__init__("unprepared")
        self.pid = pid


async def commands():
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            print("ok", flush=True)
            return
        if words[0] == "fail":
            STORE.faults += [("fail", int(words[1], 16))] * int(words[2])
            print("ok", flush=True)
        elif words[0] == "drop":
            STORE.faults += [("drop",)] * int(words[1])
            print("ok", flush=True)
        elif words[0] == "rows":
            ks, name = words[1].split(".")
            t = STORE.keyspaces.get(ks, {}).get(name)
            print(f"rows={len(t.rows) if t else -1}", flush=True)
        else:
            print(f"error: unknown command {words[0]}", flush=True)


async def main():
    port = 0
    if "--port" in sys.argv:
        port = int(sys.argv[sys.argv.index("--port") + 1])
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"port={server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await commands()


if __name__ == "__main__":
    asyncio.run(main())
