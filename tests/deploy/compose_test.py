#!/usr/bin/python3
"""Checks of spate's container deployment files (issue 21), with no container engine:

  - deploy/docker-compose.yml: `docker-compose config` accepts it with deploy/.env.example;
    every service has a healthcheck, every image is pinned, start order is by depends_on
    conditions, state lives in named volumes, secrets come only from the env file, every
    spate container serves --http and Prometheus scrapes it;
  - deploy/docker/Dockerfile: the build stage runs scripts/setup.sh (what `make test` runs),
    the runtime stage installs every package the spate binary's libraries come from and no
    -dev package, runs as a non-root user, has a HEALTHCHECK on /healthz;
  - deploy/k8s/*.yaml: the manifests parse, have the expected kinds, probes on /healthz and
    /readyz, resource limits, scrape annotations, a non-root securityContext, one scheduler;
  - the config files these mount are ones the spate binary accepts (exit 2 = bad config).

Usage: compose_test.py SOURCE_DIR SPATE_BINARY [unittest arguments, e.g. ComposeTest]
"""
import glob
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

SOURCE = ""
SPATE = ""

# The port every spate container serves /healthz, /readyz and /metrics on.
HTTP_PORT = 9464


def read(path):
    with open(os.path.join(SOURCE, path), encoding="utf-8") as f:
        return f.read()


def clean_env():
    """The environment without anything that would leak into docker-compose's interpolation
    or spate's config (the tests must see what the files say, not what this shell has)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPATE_", "POSTGRES_", "PG", "COMPOSE_", "KAFKA_"))}
    return env


def compose(env_file, *args, extra_env=None):
    env = clean_env()
    env.update(extra_env or {})
    return subprocess.run(
        ["docker-compose", "-f", os.path.join(SOURCE, "deploy/docker-compose.yml"),
         "--env-file", env_file, *args],
        capture_output=True, text=True, env=env, timeout=120)


def image_pinned(image):
    """name:tag with a tag other than latest, or name@sha256:digest."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.split(":", 1)[1]
    return tag not in ("", "latest") and "$" not in tag


def command_list(service):
    cmd = service.get("command", [])
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def flag_value(args, name):
    """The value of --name=V or --name V in an argument list, or None."""
    for i, a in enumerate(args):
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(args):
            return args[i + 1]
    return None


def run_spate(args, cwd):
    env = clean_env()
    return subprocess.run([SPATE, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=60)


class ComposeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env_example = os.path.join(SOURCE, "deploy/.env.example")
        out = compose(cls.env_example, "config")
        if out.returncode != 0:
            raise AssertionError("docker-compose config failed:\n" + out.stderr)
        cls.config = yaml.safe_load(out.stdout)
        cls.services = cls.config["services"]
        # The file as written (anchors resolved, ${VAR} not yet interpolated).
        cls.raw = yaml.safe_load(read("deploy/docker-compose.yml"))
        cls.spate = {name: s for name, s in cls.services.items() if "build" in s}

    def test_the_stack_is_there(self):
        for name in ("kafka", "cassandra", "postgres", "prometheus", "produce", "process",
                     "schedule"):
            self.assertIn(name, self.services)
        self.assertEqual(set(self.spate), {"produce", "process", "schedule"})
        for name, s in self.spate.items():
            self.assertEqual(command_list(s)[0], name, f"{name} runs `spate {name}`")
            self.assertTrue(s["build"]["dockerfile"].endswith("deploy/docker/Dockerfile"))

    def test_kafka_is_kraft_with_three_brokers_in_a_profile(self):
        kafka = self.services["kafka"]["environment"]
        self.assertIn("controller", kafka["KAFKA_PROCESS_ROLES"])
        self.assertIn("KAFKA_CONTROLLER_QUORUM_VOTERS", kafka)
        for s in self.services.values():
            self.assertNotIn("zookeeper", str(s.get("image", "")).lower())
            self.assertFalse(any("ZOOKEEPER" in k for k in s.get("environment", {}) or {}))
        # One broker unless the kafka3 profile is on; nothing outside the profile may depend
        # on its brokers (a plain `up` would then start them anyway).
        self.assertNotIn("profiles", self.services["kafka"])
        for extra in ("kafka-2", "kafka-3"):
            self.assertEqual(self.services[extra].get("profiles"), ["kafka3"], extra)
            self.assertIn("broker", self.services[extra]["environment"]["KAFKA_PROCESS_ROLES"])
        for name, s in self.services.items():
            if "profiles" not in s:
                self.assertFalse({"kafka-2", "kafka-3"} & set(s.get("depends_on", {})), name)

    def test_every_service_has_a_healthcheck(self):
        for name, s in self.services.items():
            hc = s.get("healthcheck")
            self.assertIsNotNone(hc, f"service {name} has no healthcheck")
            self.assertFalse(hc.get("disable", False), name)
            test = hc.get("test")
            self.assertTrue(test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1,
                            f"service {name}: healthcheck test {test!r}")

    def test_spate_serves_http_and_its_healthcheck_asks_healthz_there(self):
        for name, s in self.spate.items():
            http = flag_value(command_list(s), "--http")
            self.assertEqual(http, f"0.0.0.0:{HTTP_PORT}", f"{name}: /healthz needs --http")
            test = " ".join(s["healthcheck"]["test"])
            self.assertIn(f"127.0.0.1:{HTTP_PORT}/healthz", test, name)

    def test_every_image_is_pinned(self):
        for name, s in self.services.items():
            self.assertIn("image", s, name)
            self.assertTrue(image_pinned(s["image"]), f"service {name}: image {s['image']}")

    def test_start_order_is_by_health(self):
        for name, s in self.services.items():
            deps = s.get("depends_on", {})
            self.assertIsInstance(deps, dict, f"{name}: depends_on needs conditions")
            for dep, how in deps.items():
                self.assertIn("condition", how, f"{name} -> {dep}")
        need = {"produce": {"kafka"}, "schedule": {"kafka"},
                "process": {"kafka", "cassandra", "postgres"}}
        for name, deps in need.items():
            got = self.services[name].get("depends_on", {})
            for dep in deps:
                self.assertEqual(got.get(dep, {}).get("condition"), "service_healthy",
                                 f"{name} must wait for {dep} to be healthy")

    def test_process_runs_several_copies_no_more_than_partitions(self):
        process = self.services["process"]
        replicas = int(process.get("deploy", {}).get("replicas", process.get("scale", 1)))
        partitions = int(flag_value(command_list(process), "--partitions"))
        self.assertGreaterEqual(replicas, 2)
        self.assertLessEqual(replicas, partitions)
        self.assertNotIn("ports", process, "replicas cannot share one host port")
        self.assertNotIn("container_name", process)

    def test_state_lives_in_named_volumes(self):
        declared = set(self.config.get("volumes", {}))
        for name in ("kafka", "cassandra", "postgres", "prometheus", "schedule"):
            named = [v for v in self.services[name].get("volumes", [])
                     if not v.startswith(("/", ".")) and ":" in v]
            self.assertTrue(named, f"{name} keeps its data in no named volume")
            for v in named:
                self.assertIn(v.split(":", 1)[0], declared, f"{name}: {v}")
        for name, s in self.services.items():
            for v in s.get("volumes", []):
                source = v.split(":", 1)[0]
                if not source.startswith("/"):
                    self.assertIn(source, declared, f"{name}: {v}")

    def test_no_secret_literal_in_the_file(self):
        secret_key = re.compile(r"PASSWORD|SECRET|TOKEN|_DSN$|CREDENTIAL", re.I)
        for name, s in self.raw["services"].items():
            env = s.get("environment", {}) or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) for e in env)
            for key, value in env.items():
                value = str(value)
                if secret_key.search(key):
                    self.assertRegex(value, r"\$\{", f"{name}: {key} must come from .env")
                # A DSN's password=...: the value after it must be a ${VAR}.
                for m in re.finditer(r"(?<![\w$])password\s*=\s*(\S+)", value, re.I):
                    self.assertRegex(m.group(1), r"^\$\{[A-Z_]+", f"{name}: {key}")
        text = read("deploy/docker-compose.yml")
        self.assertNotRegex(text, r"(?i)password\s*[=:]\s*[\"']?(?!\$)[A-Za-z0-9]")
        # The env file that holds the real values is never committed; the example holds
        # placeholders only.
        self.assertRegex(read(".gitignore"), r"(?m)^/?deploy/\.env$")
        example = read("deploy/.env.example")
        for m in re.finditer(r"(?m)^([A-Z_]*PASSWORD[A-Z_]*)=(.*)$", example):
            self.assertRegex(m.group(2), r"change-me", m.group(1))

    def test_passwords_come_from_the_env_file_and_are_required(self):
        with tempfile.TemporaryDirectory() as tmp:
            env_file = os.path.join(tmp, "test.env")
            lines = [l for l in read("deploy/.env.example").splitlines()
                     if not l.startswith("POSTGRES_PASSWORD=")]
            with open(env_file, "w") as f:
                f.write("\n".join(lines + ["POSTGRES_PASSWORD=pw-from-the-env-file-4711", ""]))
            out = compose(env_file, "config")
            self.assertEqual(out.returncode, 0, out.stderr)
            config = yaml.safe_load(out.stdout)["services"]
            self.assertEqual(config["postgres"]["environment"]["POSTGRES_PASSWORD"],
                             "pw-from-the-env-file-4711")
            self.assertIn("password=pw-from-the-env-file-4711",
                          config["process"]["environment"]["SPATE_PG_DSN"])
            with open(env_file, "w") as f:
                f.write("\n".join(lines + [""]))
            out = compose(env_file, "config")
            self.assertNotEqual(out.returncode, 0, "config passed without POSTGRES_PASSWORD")
            self.assertIn("POSTGRES_PASSWORD", out.stderr)

    def test_prometheus_scrapes_every_spate_service(self):
        prom = yaml.safe_load(read("deploy/prometheus/prometheus.yml"))
        targets = set()
        for job in prom["scrape_configs"]:
            for sc in job.get("static_configs", []):
                targets.update(sc["targets"])
            for dns in job.get("dns_sd_configs", []):
                self.assertEqual(dns.get("port"), HTTP_PORT)
                targets.update(f"{n}:{dns['port']}" for n in dns["names"])
        for name in self.spate:
            self.assertIn(f"{name}:{HTTP_PORT}", targets, f"Prometheus does not scrape {name}")
        mounts = self.services["prometheus"]["volumes"]
        self.assertTrue(any(v.endswith(":/etc/prometheus/prometheus.yml:ro") and
                            "deploy/prometheus/prometheus.yml" in v for v in mounts), mounts)

    def test_mounted_files_exist_and_the_scheduler_runs_a_jobs_file(self):
        for name, s in self.services.items():
            for v in s.get("volumes", []):
                source = v.split(":", 1)[0]
                if source.startswith("/"):
                    self.assertTrue(os.path.exists(source), f"{name}: {source}")
        args = command_list(self.services["schedule"])
        jobs = flag_value(args, "--config")
        mounted = [v for v in self.services["schedule"]["volumes"] if f":{jobs}:" in v]
        self.assertEqual(len(mounted), 1)
        self.assertIn("jobs", yaml.safe_load(open(mounted[0].split(":", 1)[0])))


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        text = read("deploy/docker/Dockerfile")
        # Join continuation lines, drop comments: one instruction per entry.
        text = re.sub(r"\\\n", " ", text)
        lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
        cls.args = {}
        cls.stages = []
        for line in lines:
            word, _, rest = line.partition(" ")
            word = word.upper()
            if word == "ARG" and not cls.stages and "=" in rest:
                k, v = rest.split("=", 1)
                cls.args[k.strip()] = v.strip()
            if word == "FROM":
                cls.stages.append([])
            if cls.stages:
                cls.stages[-1].append((word, rest))

    def image_of(self, stage):
        image = stage[0][1].split()[0]
        return re.sub(r"\$\{(\w+)\}", lambda m: self.args.get(m.group(1), m.group(0)), image)

    def instructions(self, stage, word):
        return [rest for w, rest in stage if w == word]

    def test_two_stages_on_debian_12_pinned(self):
        self.assertGreaterEqual(len(self.stages), 2)
        for stage in self.stages:
            image = self.image_of(stage)
            self.assertRegex(image, r"^debian:12(\.\d+)?(-slim)?(@sha256:[0-9a-f]{64})?$")
            self.assertTrue(image_pinned(image), image)

    def test_build_stage_runs_the_projects_setup_script_and_a_release_build(self):
        build = self.stages[0]
        runs = self.instructions(build, "RUN")
        self.assertTrue(any(re.search(r"(^|\s|/)scripts/setup\.sh(\s|&|$)", r) for r in runs),
                        "the build stage does not run scripts/setup.sh")
        cmake = " ".join(r for r in runs if "cmake" in r)
        self.assertIn("-G Ninja", cmake)
        self.assertIn("-DCMAKE_BUILD_TYPE=Release", cmake)
        self.assertIn("--target spate", cmake)

    def test_runtime_stage_has_only_runtime_packages(self):
        runtime = self.stages[-1]
        installs = " ".join(r for r in self.instructions(runtime, "RUN") if "apt-get install" in r)
        packages = set(re.findall(r"(?<![-\w])(lib[\w.+-]+|ca-certificates|tzdata|curl)", installs))
        self.assertTrue(packages)
        self.assertFalse([p for p in packages if p.endswith("-dev")], packages)
        # Every library the binary needs comes from a package the stage installs (or from
        # the base image's essential set). dpkg -S maps this Debian 12 host's libraries.
        out = subprocess.run(["ldd", SPATE], capture_output=True, text=True, check=True).stdout
        needed = subprocess.run(["objdump", "-p", SPATE], capture_output=True, text=True,
                                check=True).stdout
        direct = set(re.findall(r"NEEDED\s+(\S+)", needed))
        base = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:12-slim (apt needs them)
        # The sanitizer build under test (make test-asan) links the sanitizer runtimes; the
        # image's release build does not, so they are not the runtime stage's business.
        sanitizers = re.compile(r"^lib(asan|ubsan|tsan|lsan)\.so")
        missing = []
        for lib in sorted(lib for lib in direct if not sanitizers.match(lib)):
            m = re.search(rf"{re.escape(lib)} => (\S+)", out)
            self.assertIsNotNone(m, f"ldd does not resolve {lib}")
            path = os.path.realpath(m.group(1))
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            if owner.returncode != 0:
                owner = subprocess.run(["dpkg", "-S", m.group(1)], capture_output=True, text=True)
            self.assertEqual(owner.returncode, 0, f"no package owns {path}")
            pkg = owner.stdout.split(":", 1)[0]
            if pkg not in packages and pkg not in base:
                missing.append(f"{lib} ({pkg})")
        self.assertEqual(missing, [], "the runtime stage lacks these libraries' packages")

    def test_runtime_stage_is_non_root_with_a_healthcheck_on_healthz(self):
        runtime = self.stages[-1]
        users = self.instructions(runtime, "USER")
        self.assertTrue(users, "no USER in the runtime stage")
        self.assertNotRegex(users[-1].split(":")[0], r"^(root|0)$")
        self.assertIn("/var/lib/spate", self.instructions(runtime, "WORKDIR"))
        checks = self.instructions(runtime, "HEALTHCHECK")
        self.assertEqual(len(checks), 1)
        self.assertIn("/healthz", checks[0])
        self.assertTrue(any("spate" in e for e in self.instructions(runtime, "ENTRYPOINT")))
        # /healthz exists only with --http: the default command must serve it.
        cmd = " ".join(self.instructions(runtime, "CMD"))
        self.assertRegex(cmd, rf"--http.*0\.0\.0\.0:{HTTP_PORT}")
        self.assertIn(f"{HTTP_PORT}", checks[0] + " ".join(self.instructions(runtime, "ENV")))

    def test_dockerignore_keeps_builds_and_data_out(self):
        ignored = read(".dockerignore").split()
        for entry in ("build/", ".git/", "spate-data/", "deploy/.env"):
            self.assertIn(entry, ignored)


class KubernetesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = {}
        for path in sorted(glob.glob(os.path.join(SOURCE, "deploy/k8s/*.yaml"))):
            with open(path, encoding="utf-8") as f:
                cls.docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(f) if d]
        cls.objects = [d for docs in cls.docs.values() for d in docs]
        cls.deployments = {d["metadata"]["name"]: d for d in cls.objects
                           if d["kind"] == "Deployment"}
        configmap = [d for d in cls.objects if d["kind"] == "ConfigMap"]
        cls.configs = {k: yaml.safe_load(v) for k, v in configmap[0]["data"].items()}

    def test_expected_kinds(self):
        kinds = [d["kind"] for d in self.objects]
        for kind in ("Namespace", "ConfigMap", "Secret", "Deployment", "PersistentVolumeClaim"):
            self.assertIn(kind, kinds)
        self.assertEqual(set(self.deployments),
                         {"spate-process", "spate-schedule", "spate-produce"})
        for d in self.objects:
            if d["kind"] not in ("Namespace", "Kustomization"):
                self.assertEqual(d["metadata"].get("namespace"), "spate", d["metadata"]["name"])

    def test_kustomization_applies_everything_but_the_example_secret(self):
        kust = self.docs["kustomization.yaml"][0]
        for res in kust["resources"]:
            self.assertTrue(os.path.exists(os.path.join(SOURCE, "deploy/k8s", res)), res)
        self.assertNotIn("secret.example.yaml", kust["resources"])
        applied = {d["kind"] for r in kust["resources"] for d in self.docs[r]}
        self.assertNotIn("Secret", applied)

    def test_secrets_are_references_with_placeholders_only(self):
        for d in self.objects:
            if d["kind"] == "Secret":
                for key, value in d.get("stringData", {}).items():
                    if re.search(r"PASSWORD|DSN", key):
                        self.assertIn("CHANGE-ME", value, key)
                self.assertFalse(d.get("data"), "base64 data in the example secret")
        for name, config in self.configs.items():
            text = yaml.safe_dump(config)
            self.assertNotRegex(text, r"(?i)password|pg_dsn|secret", name)
        for name, d in self.deployments.items():
            c = d["spec"]["template"]["spec"]["containers"][0]
            refs = [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]
            self.assertEqual(refs, ["spate-secrets"], name)
            for e in c.get("env", []):
                self.assertNotIn("value", e if re.search("PASSWORD|DSN", e["name"]) else {})

    def test_probes_resources_annotations_and_security(self):
        for name, d in self.deployments.items():
            pod = d["spec"]["template"]
            spec = pod["spec"]
            c = spec["containers"][0]
            http = flag_value(c["args"], "--http")
            self.assertEqual(http, f"0.0.0.0:{HTTP_PORT}", f"{name}: probes need --http")
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = c.get(probe, {}).get("httpGet", {})
                self.assertEqual(get.get("path"), path, f"{name}: {probe}")
                port = get.get("port")
                self.assertEqual(ports.get(port, port), HTTP_PORT, f"{name}: {probe} port")
            for kind in ("requests", "limits"):
                self.assertTrue({"cpu", "memory"} <= set(c["resources"].get(kind, {})),
                                f"{name}: resources.{kind}")
            notes = pod["metadata"].get("annotations", {})
            self.assertEqual(notes.get("prometheus.io/scrape"), "true", name)
            self.assertEqual(notes.get("prometheus.io/port"), str(HTTP_PORT), name)
            self.assertEqual(notes.get("prometheus.io/path"), "/metrics", name)
            self.assertTrue(spec["securityContext"].get("runAsNonRoot"), name)
            self.assertNotEqual(spec["securityContext"].get("runAsUser", 0), 0, name)
            self.assertFalse(c["securityContext"].get("allowPrivilegeEscalation", True), name)
            self.assertGreaterEqual(spec.get("terminationGracePeriodSeconds", 30), 30, name)
            config = flag_value(c["args"], "--config")
            self.assertEqual(os.path.dirname(config), "/etc/spate")
            self.assertIn(os.path.basename(config), self.configs, name)

    def test_one_scheduler_and_process_replicas_within_partitions(self):
        schedule = self.deployments["spate-schedule"]["spec"]
        self.assertEqual(schedule["replicas"], 1)
        self.assertEqual(schedule["strategy"]["type"], "Recreate")
        process = self.deployments["spate-process"]["spec"]
        self.assertGreaterEqual(process["replicas"], 2)
        self.assertLessEqual(process["replicas"], self.configs["process.yaml"]["partitions"])
        self.assertEqual(self.configs["process.yaml"]["partitions"],
                         self.configs["produce.yaml"]["partitions"])


class ConfigFilesTest(unittest.TestCase):
    """The configs the compose stack and the ConfigMap mount are ones spate accepts: a config
    error is exit 2 with the key named; these get as far as connecting (to a closed loopback
    port: exit 1)."""

    def files(self):
        out = {}
        for name in ("produce", "process", "schedule"):
            out[f"compose/{name}"] = (name, read(f"deploy/docker/config/{name}.yaml"))
        cm = [d for d in yaml.safe_load_all(read("deploy/k8s/configmap.yaml")) if d][0]
        for key, text in cm["data"].items():
            out[f"k8s/{key}"] = (key.split(".")[0], text)
        return out

    def test_spate_accepts_them(self):
        closed = ["--kafka-timeout", "1s", "--brokers", "127.0.0.1:9"]
        with tempfile.TemporaryDirectory() as tmp:
            for label, (command, text) in self.files().items():
                path = os.path.join(tmp, command + ".yaml")
                with open(path, "w") as f:
                    f.write(text)
                if command == "schedule":
                    # trigger reads the whole jobs file before it looks for the job.
                    r = run_spate(["trigger", "no-such-job", "--config", path], tmp)
                    self.assertIn("no job 'no-such-job'", r.stderr, f"{label}: {r.stderr}")
                    continue
                args = [command, "--config", path, *closed]
                if command == "process":
                    args += ["--cassandra-hosts", "127.0.0.1:9", "--cassandra-timeout", "1s",
                             "--pg-timeout", "1s"]
                r = run_spate(args, tmp)
                self.assertEqual(r.returncode, 1, f"{label}: exit {r.returncode}: {r.stderr}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    SOURCE, SPATE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]])
