#!/usr/bin/python3
"""The CQL test server (tests/rigs/cql_server.py) is faithful enough for a real driver.

Runs the DataStax Python driver (Debian's python3-cassandra) against it: connect, create a
keyspace and a table, prepared inserts, select back with paging, a prepared select by key,
and errors that reach the driver as the right exceptions. Registered in CTest by
tests/CMakeLists.txt; usage: cql_server_test.py PATH/TO/cql_server.py
"""

import subprocess
import sys
import unittest
import uuid

from cassandra import InvalidRequest
from cassandra.cluster import Cluster
from cassandra.policies import FallthroughRetryPolicy
from cassandra.protocol import SyntaxException
from cassandra.query import SimpleStatement

SERVER = sys.argv.pop(1) if len(sys.argv) > 1 else "tests/rigs/cql_server.py"


class DriverAgainstTestServer(unittest.TestCase):
    def setUp(self):
        self.server = subprocess.Popen(["/usr/bin/python3", SERVER], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        line = self.server.stdout.readline()
        self.assertTrue(line.startswith("port="), line)
        self.port = int(line.split("=")[1])
        # Schema and token metadata would need the system_schema tables, which the test
        # server does not keep; everything else is the driver's normal path.
        self.cluster = Cluster(["127.0.0.1"], port=self.port, protocol_version=4,
                               schema_metadata_enabled=False, token_metadata_enabled=False,
                               connect_timeout=5, control_connection_timeout=5)
        self.session = self.cluster.connect()

    def tearDown(self):
        self.cluster.shutdown()
        self.command("quit")
        self.server.wait(10)
        self.server.stdin.close()
        self.server.stdout.close()

    def command(self, line):
        self.server.stdin.write(line + "\n")
        self.server.stdin.flush()
        return self.server.stdout.readline().strip()

    def create(self):
        self.session.execute(
            "CREATE KEYSPACE IF NOT EXISTS spark_streams WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': '1'}")
        self.session.execute(
            "CREATE TABLE IF NOT EXISTS spark_streams.created_users ("
            "id UUID PRIMARY KEY, first_name TEXT, last_name TEXT, age int)")

    def test_prepared_inserts_are_read_back_over_several_pages(self):
        self.create()
        insert = self.session.prepare(
            "INSERT INTO spark_streams.created_users (id, first_name, last_name, age) "
            "VALUES (?, ?, ?, ?)")
        self.assertEqual([c.name for c in insert.column_metadata],
                         ["id", "first_name", "last_name", "age"])
        users = {uuid.uuid4(): (f"first{i}", f"O'Last\\{i}", i) for i in range(250)}
        for key, (first, last, age) in users.items():
            self.session.execute(insert, (key, first, last, age))
        self.assertEqual(self.command("rows spark_streams.created_users"), "rows=250")

        first_page = self.session.execute(
            SimpleStatement("SELECT * FROM spark_streams.created_users", fetch_size=100))
        self.assertTrue(first_page.has_more_pages)
        self.assertEqual(len(first_page.current_rows), 100)
        rows = list(first_page)  # The driver fetches the remaining pages.
        self.assertEqual(len(rows), 250)
        for row in rows:
            self.assertEqual((row.first_name, row.last_name, row.age), users[row.id])

        select = self.session.prepare(
            "SELECT first_name, age FROM spark_streams.created_users WHERE id = ?")
        key = next(iter(users))
        row = self.session.execute(select, (key,)).one()
        self.assertEqual((row.first_name, row.age), (users[key][0], users[key][2]))
        self.assertIsNone(self.session.execute(select, (uuid.uuid4(),)).one())

    def test_same_key_again_is_an_upsert(self):
        self.create()
        key = uuid.uuid4()
        for name in ("a", "b"):
            self.session.execute(
                "INSERT INTO spark_streams.created_users (id, first_name) VALUES (%s, %s)",
                (key, name))
        rows = list(self.session.execute("SELECT * FROM spark_streams.created_users"))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0].first_name, "b")

    def test_errors_reach_the_driver_as_what_they_are(self):
        with self.assertRaises(SyntaxException):
            self.session.execute("CREAT TABLE x (a int PRIMARY KEY)")
        with self.assertRaises(InvalidRequest) as bad_keyspace:
            self.session.execute("SELECT * FROM nowhere.t")
        self.assertIn("nowhere", str(bad_keyspace.exception))
        self.create()
        # An injected error: the driver sees exactly that code.
        self.assertEqual(self.command("fail 2200 1"), "ok")
        with self.assertRaises(InvalidRequest):
            self.session.execute(
                SimpleStatement("SELECT * FROM spark_streams.created_users",
                                retry_policy=FallthroughRetryPolicy()))
        self.assertEqual(len(list(self.session.execute(
            "SELECT * FROM spark_streams.created_users"))), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
