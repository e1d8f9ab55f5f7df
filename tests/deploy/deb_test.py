#!/usr/bin/python3
"""The Debian package and the install rules (issue 21), built from the build tree under test.

Builds the .deb with CPack from BUILD_DIR into a temporary directory (the same CPack config
`make deb` uses), then checks what a host would get: the control fields (Depends computed by
dpkg-shlibdeps covering every library the binary needs), the maintainer scripts and
conffiles, the file list and modes, the unpacked binary running `spate run` end to end, ldd
resolving every library from a package the package depends on (directly or through them),
the systemd units passing `systemd-analyze verify`, the example configs accepted by the
binary, the man page and the bash completion. Also `cmake --install` with a prefix and
DESTDIR. Nothing is installed on this machine and no maintainer script is run.
Registered in CTest by tests/CMakeLists.txt; usage: deb_test.py BUILD_DIR
"""

import gzip
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

BUILD_DIR = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build/release"

# The runtime libraries the issue names: each must be a dependency of the package.
REQUIRED_DEPENDS = ["libsimdjson", "librdkafka", "libpq", "libicu", "libsqlite3", "libyaml-cpp",
                    "libcurl", "libspdlog", "libfmt", "libstdc++6", "libc6", "adduser"]
CONFFILES = ["/etc/spate/produce.yaml", "/etc/spate/process.yaml", "/etc/spate/schedule.yaml",
             "/etc/spate/spate.env"]
UNITS = ["spate-process@.service", "spate-schedule.service"]


def run(cmd, **kwargs):
    kwargs.setdefault("timeout", 120)
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def check(cmd, **kwargs):
    r = run(cmd, **kwargs)
    if r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def parse_depends(field):
    """Package names of a Depends field; every alternative of 'a | b' counts."""
    names = set()
    for item in field.split(","):
        for alt in item.split("|"):
            alt = alt.strip()
            if alt:
                names.add(re.split(r"[\s(:]", alt, maxsplit=1)[0])
    return names


def owning_package(path):
    """The installed package that holds PATH (dpkg -S), trying the /usr-merged spelling."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/") or p.startswith("/lib64/"):
            candidates.append("/usr" + p)
    for p in candidates:
        r = run(["dpkg", "-S", p])
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def installed_packages():
    """{package: (its Depends and Pre-Depends names, the names it Provides)} of this machine."""
    out = check(["dpkg-query", "-W", "-f=${Package}\t${Depends}, ${Pre-Depends}\t${Provides}\n"])
    packages = {}
    for line in out.splitlines():
        name, depends, provides = line.split("\t")
        packages[name] = (parse_depends(depends), parse_depends(provides))
    return packages


def names_of(package, packages):
    """PACKAGE and the virtual names it provides: a Depends entry may be either
    (dpkg-shlibdeps writes libspdlog1.10-fmt9, which libspdlog1.10 provides)."""
    return {package} | packages.get(package, (set(), set()))[1]


def depends_closure(roots, packages):
    """ROOTS and every installed package they depend on, recursively; virtual names are
    followed to the packages that provide them."""
    providers = {}
    for name, (_, provides) in packages.items():
        for virtual in provides:
            providers.setdefault(virtual, set()).add(name)
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(providers.get(name, set()) - seen)
        if name in packages:
            todo.extend(packages[name][0] - seen)
    return seen


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="spate-deb-test-")
        out = os.path.join(cls.tmp, "out")
        check(["cpack", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-G", "DEB",
               "-B", out], cwd=BUILD_DIR, timeout=300)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        if len(debs) != 1:
            raise AssertionError(f"expected one .deb in {out}, found {debs}")
        cls.deb_name = debs[0]
        cls.deb = os.path.join(out, debs[0])
        cls.root = os.path.join(cls.tmp, "root")
        check(["dpkg-deb", "-x", cls.deb, cls.root])
        cls.control = os.path.join(cls.tmp, "control")
        check(["dpkg-deb", "-e", cls.deb, cls.control])
        cls.spate = os.path.join(cls.root, "usr/bin/spate")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return check(["dpkg-deb", "-f", self.deb, name]).strip()

    def depends(self):
        return parse_depends(self.field("Depends"))

    def test_name_version_and_architecture(self):
        arch = check(["dpkg", "--print-architecture"]).strip()
        version = self.field("Version")
        self.assertRegex(version, r"^\d+\.\d+\.\d+")
        self.assertEqual(self.field("Package"), "spate")
        self.assertEqual(self.field("Architecture"), arch)
        self.assertEqual(self.deb_name, f"spate_{version}_{arch}.deb")
        self.assertEqual(check([self.spate, "--version"]).strip(), f"spate {version}")
        info = check(["dpkg-deb", "--info", self.deb])
        self.assertIn("Maintainer:", info)
        self.assertIn("Description:", info)

    def test_depends_names_the_runtime_libraries(self):
        depends = self.depends()
        for want in REQUIRED_DEPENDS:
            self.assertTrue(any(d == want or d.startswith(want) for d in depends),
                            f"no {want}* in Depends: {sorted(depends)}")
        # Versions come from the shlibs files: at least one (>= ...) bound.
        self.assertRegex(self.field("Depends"), r"\(>= [^)]+\)")

    def test_each_needed_library_is_from_a_package_in_depends(self):
        # The binary's own DT_NEEDED libraries: their packages are direct dependencies.
        depends = self.depends()
        needed = re.findall(r"NEEDED\s+(\S+)", check(["objdump", "-p", self.spate]))
        self.assertGreater(len(needed), 5)
        resolved = {}
        ldd = check(["ldd", self.spate])
        self.assertNotIn("not found", ldd)
        for line in ldd.splitlines():
            m = re.match(r"\s*(\S+) => (\S+) \(", line)
            if m:
                resolved[m.group(1)] = m.group(2)
            else:
                m = re.match(r"\s*(/\S+) \(", line)  # the dynamic loader
                if m:
                    resolved[os.path.basename(m.group(1))] = m.group(1)
        packages = installed_packages()
        for lib in needed:
            self.assertIn(lib, resolved, f"ldd did not resolve {lib}")
            pkg = owning_package(resolved[lib])
            self.assertIsNotNone(pkg, f"no package holds {resolved[lib]}")
            self.assertTrue(names_of(pkg, packages) & depends,
                            f"{lib} ({resolved[lib]}) is from {pkg}, not in Depends {sorted(depends)}")
        # Everything ldd loads (the libraries' own libraries too) comes from the Depends
        # packages or what they depend on: installing the .deb pulls in all of it.
        closure = depends_closure(depends, packages)
        for lib, path in resolved.items():
            pkg = owning_package(path)
            self.assertIsNotNone(pkg, f"no package holds {path}")
            self.assertTrue(names_of(pkg, packages) & closure,
                            f"{lib} ({path}) is from {pkg}, outside Depends' closure")

    def test_maintainer_scripts_and_conffiles(self):
        for script in ["postinst", "prerm", "postrm"]:
            path = os.path.join(self.control, script)
            self.assertTrue(os.path.isfile(path), f"no {script} in the package")
            self.assertTrue(os.stat(path).st_mode & 0o111, f"{script} is not executable")
            check(["sh", "-n", path])
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        self.assertRegex(postinst, r"adduser --system|useradd --system")
        self.assertIn("getent passwd spate", postinst)  # idempotent: only when missing
        self.assertRegex(postinst, r"install -d -o spate -g spate -m 0750 /var/lib/spate")
        code = "\n".join(l for l in postinst.splitlines() if not l.lstrip().startswith("#"))
        self.assertNotRegex(code, r"systemctl[^\n]*(enable|start)")
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(sorted(f.read().split()), sorted(CONFFILES))

    def test_postinst_creates_the_user_once(self):
        # postinst run twice against stand-ins for the commands it changes the system with
        # (they log their arguments; getent answers from what the stand-ins created), so
        # nothing on this machine changes: the first run creates the group, the user and
        # /var/lib/spate; the second finds them and creates nothing.
        stubs = os.path.join(self.tmp, "stubs")
        state = os.path.join(self.tmp, "stub-state")
        os.makedirs(stubs)
        os.makedirs(state)
        log = os.path.join(state, "log")
        scripts = {
            "getent": f'[ -e "{state}/$1" ]',
            "addgroup": f'echo "addgroup $*" >>{log}; touch "{state}/group"',
            "groupadd": f'echo "groupadd $*" >>{log}; touch "{state}/group"',
            "adduser": f'echo "adduser $*" >>{log}; touch "{state}/passwd"',
            "useradd": f'echo "useradd $*" >>{log}; touch "{state}/passwd"',
        }
        for name in ["install", "chown", "chmod", "systemctl", "deluser", "userdel"]:
            scripts[name] = f'echo "{name} $*" >>{log}'
        for name, body in scripts.items():
            path = os.path.join(stubs, name)
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\n{body}\n")
            os.chmod(path, 0o755)
        env = dict(os.environ, PATH=f"{stubs}:/usr/bin:/bin")
        postinst = os.path.join(self.control, "postinst")
        runs = []
        for _ in range(2):
            open(log, "w").close()
            check(["sh", postinst, "configure", ""], env=env)
            with open(log) as f:
                runs.append(f.read())
        self.assertRegex(runs[0], r"(?m)^addgroup --system .*spate$")
        self.assertRegex(runs[0], r"(?m)^adduser --system .*--ingroup spate .*spate$")
        self.assertIn("install -d -o spate -g spate -m 0750 /var/lib/spate", runs[0])
        self.assertNotRegex(runs[1], r"(?m)^(add|user|group)")
        self.assertIn("install -d -o spate -g spate -m 0750 /var/lib/spate", runs[1])
        for run_log in runs:
            self.assertNotRegex(run_log, r"systemctl.*(enable|start)")

    def test_contents(self):
        listing = check(["dpkg-deb", "--contents", self.deb])
        entries = {}
        for line in listing.splitlines():
            fields = line.split()
            entries[fields[-1].lstrip(".")] = (fields[0], fields[1])
        want = ["/usr/bin/spate", "/usr/share/man/man1/spate.1.gz",
                "/usr/share/bash-completion/completions/spate",
                "/usr/share/doc/spate/examples/jobs.yaml"] + CONFFILES + \
            [f"/lib/systemd/system/{u}" for u in UNITS]
        for path in want:
            self.assertIn(path, entries, f"{path} is not in the package")
        for path, (mode, owner) in entries.items():
            self.assertEqual(owner, "root/root", path)
        self.assertEqual(entries["/usr/bin/spate"][0], "-rwxr-xr-x")
        self.assertEqual(entries["/etc/spate/spate.env"][0], "-rw-------")
        self.assertEqual(entries["/etc/spate/process.yaml"][0], "-rw-r--r--")

    def test_secrets_file_has_no_secret(self):
        with open(os.path.join(self.root, "etc/spate/spate.env")) as f:
            for line in f:
                line = line.strip()
                self.assertTrue(line == "" or line.startswith("#"), f"not a comment: {line}")

    def test_unpacked_binary_runs_the_pipeline(self):
        data = os.path.join(self.tmp, "data")
        # With the package's bin first on PATH, as after an install: the summary's hint
        # names plain `spate`.
        env = dict(os.environ, PATH=f"{os.path.dirname(self.spate)}:{os.environ['PATH']}")
        r = run([self.spate, "run", "--count", "1000", "--data-dir", data, "--progress", "never"],
                cwd=self.tmp, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"look: spate query --data-dir {data}", r.stderr)
        db = sqlite3.connect(os.path.join(data, "spate.db"))
        try:
            stored = db.execute("SELECT count(*) FROM created_users").fetchone()[0]
            rejected = db.execute("SELECT count(*) FROM rejected_users").fetchone()[0]
        finally:
            db.close()
        self.assertEqual(stored + rejected, 1000)
        self.assertGreater(stored, 900)

    def test_summary_names_the_binary_by_its_path_when_not_on_path(self):
        # Not on PATH (a build tree, an unpacked root): `spate query` would not run, so the
        # hint gives the path, relative to the working directory it lies under.
        data = os.path.join(self.tmp, "data-off-path")
        env = dict(os.environ, PATH="/usr/bin:/bin")
        r = run([self.spate, "run", "--count", "10", "--data-dir", data, "--progress", "never"],
                cwd=self.tmp, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"look: {os.path.relpath(self.spate, self.tmp)} query --data-dir {data}",
                      r.stderr)

    def test_units_verify(self):
        # The units as installed, with ExecStart pointed at the unpacked binary (verify checks
        # that it exists) and the template as instance 1. --man=no: spate(1) is not installed
        # on this machine. Anything verify prints is a failure, since it only warns (exit 0)
        # about directives it cannot parse.
        units = os.path.join(self.tmp, "units")
        os.makedirs(units)
        files = []
        for unit in UNITS:
            with open(os.path.join(self.root, "lib/systemd/system", unit)) as f:
                text = f.read()
            self.assertIn("ExecStart=/usr/bin/spate ", text)
            self.assertIn("User=spate", text)
            self.assertIn("WorkingDirectory=/var/lib/spate", text)
            self.assertIn("EnvironmentFile=-/etc/spate/spate.env", text)
            self.assertIn("ReadWritePaths=/var/lib/spate", text)
            self.assertIn("--config /etc/spate/", text)
            name = unit.replace("@.", "@1.")
            path = os.path.join(units, name)
            with open(path, "w") as f:
                f.write(text.replace("/usr/bin/spate", self.spate))
            files.append(path)
        r = run(["systemd-analyze", "verify", "--man=no"] + files, cwd=units)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "")

    def test_example_configs_are_accepted(self):
        etc = os.path.join(self.root, "etc/spate")
        # The jobs file: every job's options are checked when the file is read (exit 2 if not).
        r = run([self.spate, "trigger", "user_automation", "--config",
                 os.path.join(etc, "schedule.yaml"), "--data-dir", os.path.join(self.tmp, "sch")])
        self.assertEqual(r.returncode, 0, r.stderr)
        # produce and process: no broker here, so the work fails (1), but a config error
        # would be 2. The API URL is pointed at a closed loopback port: nothing leaves.
        for cmd, extra in [("process", ["--data-dir", os.path.join(self.tmp, "proc")]),
                           ("produce", ["--url", "http://127.0.0.1:1/api/"])]:
            r = run([self.spate, cmd, "--config", os.path.join(etc, f"{cmd}.yaml"),
                     "--brokers", "127.0.0.1:1", "--kafka-timeout", "1s"] + extra, timeout=60)
            self.assertEqual(r.returncode, 1, f"{cmd}: {r.stderr}")
            self.assertIn("no Kafka broker", r.stderr, cmd)

    def test_man_page(self):
        with gzip.open(os.path.join(self.root, "usr/share/man/man1/spate.1.gz"), "rt") as f:
            page = f.read()
        self.assertIn(".TH SPATE", page)
        for cmd in ["run", "produce", "process", "schedule", "query"]:
            self.assertIn(f'.SS "spate {cmd}"', page)
        self.assertIn("--exit-at-end", page.replace("\\-", "-"))
        self.assertNotIn(BUILD_DIR, page)  # the usage lines say `spate`, not the build path

    def test_bash_completion(self):
        script = os.path.join(self.root, "usr/share/bash-completion/completions/spate")

        def complete(*words):
            code = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
                    f"COMP_CWORD={len(words) - 1}; _spate; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
            return check(["bash", "-c", code]).split()

        self.assertEqual(sorted(complete("spate", "pro")), ["process", "produce"])
        self.assertIn("schedule", complete("spate", ""))
        self.assertEqual(complete("spate", "process", "--exit"), ["--exit-at-end"])
        self.assertIn("--cassandra-hosts", complete("spate", "run", "--cass"))
        self.assertNotIn("--cassandra-hosts", complete("spate", "produce", "--"))
        self.assertEqual(sorted(complete("spate", "run", "--sink", "")),
                         ["cassandra", "discard", "postgres", "sqlite"])


class InstallRules(unittest.TestCase):
    def test_install_honours_prefix_and_destdir(self):
        with tempfile.TemporaryDirectory(prefix="spate-install-test-") as dest:
            env = dict(os.environ, DESTDIR=dest)
            check(["cmake", "--install", BUILD_DIR, "--prefix", "/opt/spate-test"], env=env)
            files = set()
            for base, _, names in os.walk(dest):
                files.update(os.path.relpath(os.path.join(base, n), dest) for n in names)
            for want in ["opt/spate-test/bin/spate", "opt/spate-test/share/man/man1/spate.1.gz",
                         "opt/spate-test/share/bash-completion/completions/spate",
                         "opt/spate-test/share/doc/spate/examples/jobs.yaml",
                         "opt/spate-test/share/doc/spate/examples/process.yaml"]:
                self.assertIn(want, files)
            # Everything under the prefix: /etc and the units come only with the package.
            self.assertEqual([f for f in files if not f.startswith("opt/spate-test/")], [])
            r = run([os.path.join(dest, "opt/spate-test/bin/spate"), "--help"])
            self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
