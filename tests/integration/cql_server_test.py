#!/usr/bin/python3
"""The CQL test server (tests/rigs/cql_server.py) is faithful enough for a real driver.

Runs the DataStax Python driver (Debian's python3-cassandra) against it: connect, create a
keyspace and a table, prepared inserts, select back with paging, a prepared select by key,
errors and injected faults that reach the driver as the right exceptions, password
authentication, a read-only user, LZ4 compression, re-preparing after the server forgets its
prepared statements, a three-node cluster sharing one store, and the `get` command. A few
checks speak the protocol over a raw socket where the driver hides what is on the wire.
Registered in CTest by tests/CMakeLists.txt; usage: cql_server_test.py PATH/TO/cql_server.py
"""

import datetime
import json
import socket
import struct
import subprocess
import sys
import unittest
import uuid

import lz4.block
from cassandra import (AuthenticationFailed, InvalidRequest, OperationTimedOut, ReadTimeout,
                       Unauthorized, Unavailable, WriteTimeout)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.murmur3 import murmur3
from cassandra.policies import FallthroughRetryPolicy
from cassandra.protocol import OverloadedErrorMessage, SyntaxException
from cassandra.query import SimpleStatement

SERVER = sys.argv.pop(1) if len(sys.argv) > 1 else "tests/rigs/cql_server.py"
CREATE_KEYSPACE = ("CREATE KEYSPACE IF NOT EXISTS spark_streams WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': '1'}")
CREATE_TABLE = ("CREATE TABLE IF NOT EXISTS spark_streams.created_users ("
                "id UUID PRIMARY KEY, first_name TEXT, last_name TEXT, age int)")
INSERT = "INSERT INTO spark_streams.created_users (id, first_name, last_name, age) VALUES (?, ?, ?, ?)"


class RawConnection:
    """Protocol v4 frames over a plain socket, for what the driver does not show."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.compress_requests = False

    def close(self):
        self.sock.close()

    def send(self, opcode, body, stream=0, compress=False):
        flags = 0
        if compress:
            body = struct.pack(">I", len(body)) + lz4.block.compress(body, store_size=False)
            flags = 0x01
        self.sock.sendall(struct.pack(">BBhBi", 4, flags, stream, opcode, len(body)) + body)

    def receive(self):
        """(flags, stream, opcode, uncompressed body)."""
        version, flags, stream, opcode, length = struct.unpack(">BBhBi", self.read(9))
        assert version == 0x84, version
        body = self.read(length)
        if flags & 0x01:
            size = struct.unpack(">I", body[:4])[0]
            body = lz4.block.decompress(body[4:], uncompressed_size=size) if size else b""
        return flags, stream, opcode, body

    def read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def call(self, opcode, body, compress=False):
        self.send(opcode, body, compress=compress)
        return self.receive()


def string(s):
    return struct.pack(">H", len(s)) + s.encode()


def string_map(m):
    return struct.pack(">H", len(m)) + b"".join(string(k) + string(v) for k, v in m.items())


def query_body(cql):
    return struct.pack(">i", len(cql)) + cql.encode() + struct.pack(">HB", 1, 0)


def error_code(body):
    return struct.unpack(">i", body[:4])[0]


def node_tokens(n):
    step = 2**64 // n
    return [-2**63 + (i + 1) * step - 1 for i in range(n - 1)] + [2**63 - 1]


class DriverAgainstTestServer(unittest.TestCase):
    def setUp(self):
        self.server = None
        self.clusters = []
        self.raw = []

    def tearDown(self):
        for cluster in self.clusters:
            cluster.shutdown()
        for raw in self.raw:
            raw.close()
        if self.server:
            self.command("quit")
            self.server.wait(10)
            self.server.stdin.close()
            self.server.stdout.close()

    def start(self, *args):
        self.server = subprocess.Popen(["/usr/bin/python3", SERVER, *args], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        line = self.server.stdout.readline()
        self.assertTrue(line.startswith("port="), line)
        self.port = int(line.split()[0].split("=")[1])
        self.ports = [int(p) for p in line.split()[1].removeprefix("ports=").split(",")]
        self.assertEqual(self.ports[0], self.port)

    def connect(self, port=None, schema_metadata=False, **options):
        # Token metadata would need system.peers rows, which the test server does not give
        # (its nodes share one address); schema metadata is read from its system_schema when
        # asked for. Everything else is the driver's normal path.
        cluster = Cluster(["127.0.0.1"], port=port or self.port, protocol_version=4,
                          schema_metadata_enabled=schema_metadata, token_metadata_enabled=False,
                          connect_timeout=5, control_connection_timeout=5, **options)
        self.clusters.append(cluster)
        return cluster.connect()

    def raw_connection(self, port=None):
        raw = RawConnection(port or self.port)
        self.raw.append(raw)
        return raw

    def command(self, line):
        self.server.stdin.write(line + "\n")
        self.server.stdin.flush()
        return self.server.stdout.readline().strip()

    def stats(self):
        """{node: {"writes": A, "misrouted": B, "lz4_in": C}} from the `stats` command."""
        out, node = {}, None
        for word in self.command("stats").split():
            key, value = word.split("=")
            if key == "node":
                node = out.setdefault(int(value), {})
            else:
                node[key] = int(value)
        return out

    def create(self, session):
        session.execute(CREATE_KEYSPACE)
        session.execute(CREATE_TABLE)

    def test_prepared_inserts_are_read_back_over_several_pages(self):
        self.start()
        session = self.connect()
        self.create(session)
        insert = session.prepare(INSERT)
        self.assertEqual([c.name for c in insert.column_metadata],
                         ["id", "first_name", "last_name", "age"])
        users = {uuid.uuid4(): (f"first{i}", f"O'Last\\{i}", i) for i in range(250)}
        for key, (first, last, age) in users.items():
            session.execute(insert, (key, first, last, age))
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=250")

        first_page = session.execute(
            SimpleStatement("SELECT * FROM spark_streams.created_users", fetch_size=100))
        self.assertTrue(first_page.has_more_pages)
        self.assertEqual(len(first_page.current_rows), 100)
        rows = list(first_page)  # The driver fetches the remaining pages.
        self.assertEqual(len(rows), 250)
        for row in rows:
            self.assertEqual((row.first_name, row.last_name, row.age), users[row.id])

        select = session.prepare("SELECT first_name, age FROM spark_streams.created_users WHERE id = ?")
        key = next(iter(users))
        row = session.execute(select, (key,)).one()
        self.assertEqual((row.first_name, row.age), (users[key][0], users[key][2]))
        self.assertIsNone(session.execute(select, (uuid.uuid4(),)).one())

    def test_same_key_again_is_an_upsert(self):
        self.start()
        session = self.connect()
        self.create(session)
        key = uuid.uuid4()
        for name in ("a", "b"):
            session.execute(
                "INSERT INTO spark_streams.created_users (id, first_name) VALUES (%s, %s)", (key, name))
        rows = list(session.execute("SELECT * FROM spark_streams.created_users"))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0].first_name, "b")

    def test_errors_reach_the_driver_as_what_they_are(self):
        self.start()
        session = self.connect()
        with self.assertRaises(SyntaxException):
            session.execute("CREAT TABLE x (a int PRIMARY KEY)")
        with self.assertRaises(InvalidRequest) as bad_keyspace:
            session.execute("SELECT * FROM nowhere.t")
        self.assertIn("nowhere", str(bad_keyspace.exception))
        self.create(session)
        # An injected error: the driver sees exactly that code.
        self.assertEqual(self.command("fail 2200 1"), "ok")
        with self.assertRaises(InvalidRequest):
            session.execute(SimpleStatement("SELECT * FROM spark_streams.created_users",
                                            retry_policy=FallthroughRetryPolicy()))
        self.assertEqual(len(list(session.execute("SELECT * FROM spark_streams.created_users"))), 0)

    def test_injected_faults_carry_their_fields_and_spare_system_queries(self):
        self.start()
        session = self.connect()
        self.create(session)
        insert = session.prepare(INSERT)
        insert.retry_policy = FallthroughRetryPolicy()
        insert.consistency_level = 4  # QUORUM
        select = SimpleStatement("SELECT * FROM spark_streams.created_users",
                                 retry_policy=FallthroughRetryPolicy(), consistency_level=1)
        self.assertEqual(self.command("fail 1001 1 node is too busy"), "ok")
        # A system table query does not take the fault...
        self.assertEqual(session.execute("SELECT * FROM system.local").one().data_center, "datacenter1")
        # ...the next user query does, with the given message.
        with self.assertRaises(OverloadedErrorMessage) as overloaded:
            session.execute(select)
        self.assertIn("node is too busy", str(overloaded.exception))

        self.assertEqual(self.command("fail 1000 1"), "ok")
        with self.assertRaises(Unavailable) as unavailable:
            session.execute(insert, (uuid.uuid4(), "a", "b", 1))
        self.assertEqual((unavailable.exception.consistency, unavailable.exception.required_replicas,
                          unavailable.exception.alive_replicas), (4, 2, 1))
        self.assertEqual(self.command("fail 1100 1"), "ok")
        with self.assertRaises(WriteTimeout) as write_timeout:
            session.execute(insert, (uuid.uuid4(), "a", "b", 1))
        self.assertEqual(write_timeout.exception.write_type, 0)  # WriteType.SIMPLE
        self.assertIn("injected by the test", str(write_timeout.exception))
        self.assertEqual(self.command("fail 1200 1"), "ok")
        with self.assertRaises(ReadTimeout) as read_timeout:
            session.execute(select)
        self.assertEqual((read_timeout.exception.consistency, read_timeout.exception.required_responses,
                          read_timeout.exception.received_responses, read_timeout.exception.data_retrieved),
                         (1, 1, 0, False))
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=0")

        # An injected Unprepared names the statement, so the driver re-prepares and retries.
        self.assertEqual(self.command("fail 2500 1"), "ok")
        session.execute(insert, (uuid.uuid4(), "a", "b", 1))
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=1")

        # drop: the connection closes under the request.
        self.assertEqual(self.command("drop 1"), "ok")
        with self.assertRaises((ConnectionShutdown, NoHostAvailable, OperationTimedOut)):
            session.execute(select, timeout=3)

    def test_password_authentication(self):
        self.start("--auth", "spate:s3cret,other:pw")
        session = self.connect(auth_provider=PlainTextAuthProvider("spate", "s3cret"))
        self.create(session)
        session.execute(session.prepare(INSERT), (uuid.uuid4(), "a", "b", 1))
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=1")

        for provider in (PlainTextAuthProvider("spate", "wrong"), PlainTextAuthProvider("nobody", "s3cret")):
            with self.assertRaises(NoHostAvailable) as failed:
                self.connect(auth_provider=provider)
            [error] = failed.exception.errors.values()
            self.assertIsInstance(error, AuthenticationFailed)
            self.assertIn(f"Provided username {provider.username} and/or password are incorrect", str(error))
        with self.assertRaises(NoHostAvailable) as no_credentials:
            self.connect()
        [error] = no_credentials.exception.errors.values()
        self.assertIsInstance(error, AuthenticationFailed)

        # On the wire: AUTHENTICATE names the authenticator; nothing runs before AUTH_SUCCESS.
        raw = self.raw_connection()
        _, _, opcode, body = raw.call(0x01, string_map({"CQL_VERSION": "3.0.0"}))
        self.assertEqual((opcode, body), (0x03, string("org.apache.cassandra.auth.PasswordAuthenticator")))
        _, _, opcode, body = raw.call(0x07, query_body("SELECT * FROM spark_streams.created_users"))
        self.assertEqual((opcode, error_code(body)), (0x00, 0x000A))
        self.assertIn("uthentication is required", body.decode(errors="replace"))
        token = b"\x00spate\x00s3cret"
        _, _, opcode, body = raw.call(0x0F, struct.pack(">i", len(token)) + token)
        self.assertEqual((opcode, body), (0x10, struct.pack(">i", -1)))
        _, _, opcode, _ = raw.call(0x07, query_body("SELECT * FROM spark_streams.created_users"))
        self.assertEqual(opcode, 0x08)

    def test_read_only_user_may_select_only(self):
        self.start("--auth", "admin:a,reader:r", "--read-only", "reader")
        admin = self.connect(auth_provider=PlainTextAuthProvider("admin", "a"))
        self.create(admin)
        key = uuid.uuid4()
        admin.execute(admin.prepare(INSERT), (key, "a", "b", 1))

        reader = self.connect(auth_provider=PlainTextAuthProvider("reader", "r"))
        with self.assertRaises(Unauthorized) as create:
            reader.execute(CREATE_KEYSPACE.replace("spark_streams", "other_ks"))
        self.assertIn("User reader has no CREATE permission on <all keyspaces> or any of its parents",
                      str(create.exception))
        with self.assertRaises(Unauthorized) as insert:
            reader.execute(INSERT.replace("?", "%s"), (uuid.uuid4(), "x", "y", 2))
        self.assertIn("User reader has no MODIFY permission on <table spark_streams.created_users> "
                      "or any of its parents", str(insert.exception))
        rows = list(reader.execute("SELECT * FROM spark_streams.created_users"))
        self.assertEqual([(r.id, r.first_name) for r in rows], [(key, "a")])
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=1")

    def test_system_schema_describes_the_catalogue_as_cassandra_does(self):
        self.start()
        session = self.connect(schema_metadata=True)
        self.create(session)
        session.execute("CREATE TABLE spark_streams.rejected_users (id text PRIMARY KEY, reason varchar, "
                        "position bigint, raw blob, at timestamp)")
        cluster = self.clusters[-1]
        cluster.refresh_schema_metadata()
        # The driver's own schema parser (SchemaParserV4, the one it uses for Cassandra 4.0)
        # reads keyspaces, tables and columns back into what was created.
        keyspace = cluster.metadata.keyspaces["spark_streams"]
        self.assertEqual(type(keyspace.replication_strategy).__name__, "SimpleStrategy")
        self.assertEqual(keyspace.replication_strategy.replication_factor, 1)
        self.assertTrue(keyspace.durable_writes)
        table = keyspace.tables["created_users"]
        self.assertEqual([c.name for c in table.partition_key], ["id"])
        self.assertEqual(table.clustering_key, [])
        self.assertEqual({n: c.cql_type for n, c in table.columns.items()},
                         {"id": "uuid", "first_name": "text", "last_name": "text", "age": "int"})
        self.assertFalse(table.is_compact_storage)
        self.assertEqual(keyspace.tables["rejected_users"].columns["reason"].cql_type, "text")  # varchar
        self.assertIn("system_schema", cluster.metadata.keyspaces)

        # The rows themselves, with the types Cassandra 4.0 gives those columns.
        ks = session.execute("SELECT * FROM system_schema.keyspaces WHERE keyspace_name = 'spark_streams'").one()
        self.assertEqual((ks.durable_writes, ks.replication), (True, {
            "class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "1"}))
        local = session.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
                                ("system",)).one()
        self.assertEqual(local.replication, {"class": "org.apache.cassandra.locator.LocalStrategy"})
        tables = session.execute("SELECT table_name, flags, id, gc_grace_seconds, compaction "
                                 "FROM system_schema.tables WHERE keyspace_name = 'spark_streams'")
        tables = list(tables)
        self.assertEqual([t.table_name for t in tables], ["created_users", "rejected_users"])
        self.assertEqual(tables[0].flags, {"compound"})
        self.assertIsInstance(tables[0].id, uuid.UUID)
        self.assertEqual(tables[0].gc_grace_seconds, 864000)
        self.assertIn("SizeTieredCompactionStrategy", tables[0].compaction["class"])
        columns = session.prepare("SELECT column_name, kind, position, type, clustering_order, column_name_bytes "
                                  "FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?")
        rows = list(session.execute(columns, ("spark_streams", "created_users")))
        self.assertEqual([(r.column_name, r.kind, r.position, r.type, r.clustering_order) for r in rows], [
            ("age", "regular", -1, "int", "none"), ("first_name", "regular", -1, "text", "none"),
            ("id", "partition_key", 0, "uuid", "none"), ("last_name", "regular", -1, "text", "none")])
        self.assertEqual(rows[0].column_name_bytes, b"age")
        self.assertEqual(list(session.execute(columns, ("spark_streams", "nothing"))), [])
        self.assertEqual(list(session.execute(
            "SELECT * FROM system_schema.tables WHERE keyspace_name = 'nowhere'")), [])
        # Only the key prefix may be restricted, as in Cassandra.
        with self.assertRaises(InvalidRequest) as filtering:
            session.execute("SELECT * FROM system_schema.columns WHERE keyspace_name = 'spark_streams' "
                            "AND type = 'text'")
        self.assertIn("ALLOW FILTERING", str(filtering.exception))

        # ALTER TABLE ... ADD shows in system_schema and in the rows.
        session.execute("ALTER TABLE spark_streams.rejected_users ADD item int")
        cluster.refresh_table_metadata("spark_streams", "rejected_users")
        self.assertEqual(cluster.metadata.keyspaces["spark_streams"].tables["rejected_users"]
                         .columns["item"].cql_type, "int")
        with self.assertRaises(InvalidRequest) as twice:
            session.execute("ALTER TABLE spark_streams.rejected_users ADD item int")
        self.assertIn("Column with name 'item' already exists", str(twice.exception))
        session.execute("INSERT INTO spark_streams.rejected_users (id, item) VALUES ('x', 3)")
        self.assertEqual(json.loads(self.command("get spark_streams.rejected_users x"))["item"], 3)

    def test_permissions_are_checked_before_what_exists(self):
        self.start("--auth", "admin:a,app:p,maker:m", "--grant", "app:SELECT,MODIFY:spark_streams",
                   "--grant", "maker:CREATE:all")
        admin = self.connect(auth_provider=PlainTextAuthProvider("admin", "a"))  # A superuser.
        self.create(admin)

        # A role with MODIFY and SELECT on the keyspace: CREATE ... IF NOT EXISTS of what exists
        # is refused all the same (permissions come first), with Cassandra's words.
        app = self.connect(auth_provider=PlainTextAuthProvider("app", "p"))
        for cql, message in (
                (CREATE_KEYSPACE, "User app has no CREATE permission on <all keyspaces> or any of its parents"),
                (CREATE_TABLE, "User app has no CREATE permission on <keyspace spark_streams> or any of its "
                               "parents"),
                ("ALTER TABLE spark_streams.created_users ADD item int",
                 "User app has no ALTER permission on <table spark_streams.created_users> or any of its parents")):
            with self.assertRaises(Unauthorized, msg=cql) as refused:
                app.execute(cql)
            self.assertIn(message, str(refused.exception))
        # What it was granted works, and anyone may read system_schema.
        key = uuid.uuid4()
        app.execute(app.prepare(INSERT), (key, "a", "b", 1))
        self.assertEqual(app.execute("SELECT first_name FROM spark_streams.created_users").one().first_name, "a")
        self.assertEqual(len(list(app.execute("SELECT column_name FROM system_schema.columns "
                                              "WHERE keyspace_name = 'spark_streams'"))), 4)

        # CREATE on ALL KEYSPACES: makes keyspaces, and owns what it makes, but nothing else.
        maker = self.connect(auth_provider=PlainTextAuthProvider("maker", "m"))
        maker.execute(CREATE_KEYSPACE.replace("spark_streams", "made"))
        maker.execute("CREATE TABLE made.t (id int PRIMARY KEY, v text)")
        maker.execute("INSERT INTO made.t (id, v) VALUES (1, 'x')")
        self.assertEqual(maker.execute("SELECT v FROM made.t").one().v, "x")
        with self.assertRaises(Unauthorized) as modify:
            maker.execute(INSERT.replace("?", "%s"), (uuid.uuid4(), "x", "y", 2))
        self.assertIn("User maker has no MODIFY permission on <table spark_streams.created_users>",
                      str(modify.exception))
        with self.assertRaises(Unauthorized) as select:
            app.execute("SELECT * FROM made.t")
        self.assertIn("User app has no SELECT permission on <table made.t> or any of its parents",
                      str(select.exception))
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=1")

    def test_lz4_compression(self):
        self.start()
        session = self.connect(compression="lz4")
        self.create(session)
        insert = session.prepare(INSERT)
        for i in range(20):
            session.execute(insert, (uuid.uuid4(), "a" * 100, "b", i))
        self.assertEqual(len(list(session.execute("SELECT * FROM spark_streams.created_users"))), 20)
        self.assertGreater(self.stats()[0]["lz4_in"], 20)

        # On the wire: STARTUP and READY plain, then every response compressed, requests either.
        raw = self.raw_connection()
        _, _, opcode, body = raw.call(0x05, b"")
        self.assertIn(string("COMPRESSION") + struct.pack(">H", 1) + string("lz4"), body)
        flags, _, opcode, _ = raw.call(0x01, string_map({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}))
        self.assertEqual((flags & 0x01, opcode), (0, 0x02))
        before = self.stats()[0]["lz4_in"]
        for compress in (True, False):
            flags, _, opcode, body = raw.call(0x07, query_body("SELECT * FROM spark_streams.created_users"),
                                              compress=compress)
            self.assertEqual((flags & 0x01, opcode), (1, 0x08))
            self.assertEqual(struct.unpack(">i", body[:4])[0], 2)  # Rows
        self.assertEqual(self.stats()[0]["lz4_in"], before + 1)

        other = self.raw_connection()
        _, _, opcode, body = other.call(0x01, string_map({"CQL_VERSION": "3.0.0", "COMPRESSION": "snappy"}))
        self.assertEqual((opcode, error_code(body)), (0x00, 0x000A))

    def test_driver_reprepares_after_forget(self):
        self.start()
        session = self.connect(compression=False)
        self.create(session)
        insert = session.prepare(INSERT)
        session.execute(insert, (uuid.uuid4(), "a", "b", 1))
        self.assertEqual(self.command("forget"), "ok")
        # The old id is unknown now: ERROR Unprepared carrying that id.
        raw = self.raw_connection()
        raw.call(0x01, string_map({"CQL_VERSION": "3.0.0"}))
        body = struct.pack(">H", len(insert.query_id)) + insert.query_id + struct.pack(">HB", 1, 0)
        _, _, opcode, error = raw.call(0x0A, body)
        self.assertEqual((opcode, error_code(error)), (0x00, 0x2500))
        self.assertTrue(error.endswith(struct.pack(">H", len(insert.query_id)) + insert.query_id))
        # The driver re-prepares and the insert lands.
        session.execute(insert, (uuid.uuid4(), "c", "d", 2))
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=2")
        self.assertEqual(self.stats()[0]["lz4_in"], 0)

    def test_three_nodes_share_one_store(self):
        self.start("--nodes", "3")
        self.assertEqual(len(set(self.ports)), 3)
        tokens = node_tokens(3)
        node1 = self.connect(port=self.ports[1], compression=False)
        local = node1.execute("SELECT * FROM system.local WHERE key='local'").one()
        self.assertEqual((local.tokens, local.host_id, local.data_center),
                         ({str(tokens[1])}, uuid.UUID(int=2), "datacenter1"))
        self.assertEqual(list(node1.execute("SELECT * FROM system.peers")), [])
        self.create(node1)
        insert = node1.prepare(INSERT)
        keys = [uuid.uuid4() for _ in range(60)]
        for key in keys:
            node1.execute(insert, (key, "a", "b", 1))
        node1.execute(f"INSERT INTO spark_streams.created_users (id, age) VALUES ({keys[0]}, 7)")
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=60")

        def owner(key):
            token = murmur3(key.bytes)
            return next(i for i, t in enumerate(tokens) if token <= t)
        misrouted = sum(owner(k) != 1 for k in keys + keys[:1])
        self.assertGreater(misrouted, 0)
        self.assertEqual(self.stats(), {
            0: {"writes": 0, "misrouted": 0, "lz4_in": 0},
            1: {"writes": 61, "misrouted": misrouted, "lz4_in": 0},
            2: {"writes": 0, "misrouted": 0, "lz4_in": 0}})

        # Node 0 sees node 1's rows; its system.local has its own token.
        node0 = self.connect(port=self.ports[0], compression=False)
        self.assertEqual(node0.execute("SELECT * FROM system.local").one().tokens, {str(tokens[0])})
        row = node0.execute(f"SELECT age FROM spark_streams.created_users WHERE id = {keys[0]}").one()
        self.assertEqual(row.age, 7)

    def test_reserved_words_are_syntax_errors(self):
        self.start()
        session = self.connect()
        with self.assertRaises(SyntaxException) as keyspace:
            session.execute(CREATE_KEYSPACE.replace("spark_streams", "select"))
        self.assertIn("line 1:30 no viable alternative at input 'select' "
                      "(CREATE KEYSPACE IF NOT EXISTS [select]...)", str(keyspace.exception))
        self.create(session)
        for cql in ("CREATE TABLE spark_streams.table (id int PRIMARY KEY)", "USE from",
                    "INSERT INTO spark_streams.where (id) VALUES (1)"):
            with self.assertRaises(SyntaxException, msg=cql):
                session.execute(cql)
        # Quoted, a reserved word is a name; unreserved keywords need no quotes.
        session.execute(CREATE_KEYSPACE.replace("spark_streams", '"select"'))
        session.execute('CREATE TABLE "select".values (key text PRIMARY KEY, v int)')
        session.execute("INSERT INTO \"select\".values (key, v) VALUES ('k', 1)")
        self.assertEqual(self.command("rows select.values"), "rows=1")

    def test_get_decodes_every_column(self):
        self.start()
        session = self.connect()
        session.execute(CREATE_KEYSPACE)
        session.execute("CREATE TABLE spark_streams.everything (id uuid PRIMARY KEY, t text, i int, "
                        "b bigint, d double, ok boolean, ts timestamp, day date, raw blob, "
                        "l list<int>, s set<text>, m map<text, int>, gone text)")
        key = uuid.uuid4()
        insert = session.prepare("INSERT INTO spark_streams.everything (id, t, i, b, d, ok, ts, day, raw, l, s, m) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        session.execute(insert, (key, "héllo", -5, 2**40, 1.5, True,
                                 datetime.datetime(2024, 1, 2, 3, 4, 5, 678000), datetime.date(2024, 1, 2),
                                 b"\x00\xff", [3, 1, 2], {"x", "y"}, {"k": 9}))
        row = json.loads(self.command(f"get spark_streams.everything {key}"))
        self.assertEqual(row, {"id": str(key), "t": "héllo", "i": -5, "b": 2**40, "d": 1.5, "ok": True,
                               "ts": 1704164645678, "day": 19724, "raw": "00ff", "l": [3, 1, 2],
                               "s": ["x", "y"], "m": {"k": 9}, "gone": None})
        self.assertEqual(self.command(f"get spark_streams.everything {uuid.uuid4()}"), "null")
        session.execute("CREATE TABLE spark_streams.by_name (name text PRIMARY KEY, n int)")
        session.execute("INSERT INTO spark_streams.by_name (name, n) VALUES ('a b', 4)")
        self.assertEqual(json.loads(self.command("get spark_streams.by_name a b")), {"name": "a b", "n": 4})


if __name__ == "__main__":
    unittest.main(verbosity=2)
