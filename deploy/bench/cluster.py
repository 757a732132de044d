"""Loopback cluster of helios-cache nodes behind HAProxy, for the deploy/
benchmarks (Python standard library only).

It owns starting and stopping nodes and the balancer, reloading the balancer
with a new node list (`haproxy -sf`, through deploy/haproxy/render.sh, the
same renderer the reference config comes from) and a keep-alive JSON client
that reports which node answered (the X-Helios-Node response header).
Everything listens on 127.0.0.1 and runs under `nice -n 15`.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[1]
RENDER = DEPLOY / "haproxy" / "render.sh"
API = "/api/v1/helios/cache"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def wait_until(what, fn, timeout=60, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception:  # noqa: BLE001 - polling until it works
            pass
        time.sleep(step)
    raise TimeoutError(f"timed out waiting for {what}")


class Node:
    """One helios-cache process on 127.0.0.1:port with its own data dir."""

    def __init__(self, binary, root, name, extra_args=()):
        self.binary, self.name = binary, name
        self.port = free_port()
        self.data = Path(root) / name
        self.extra = list(extra_args)
        self.proc = None
        self.log = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.log = open(f"{self.data}.log", "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELIOS_")}
        env.setdefault("RUST_LOG", "warn")
        self.proc = subprocess.Popen(
            ["nice", "-n", "15", self.binary, "--bind", f"127.0.0.1:{self.port}",
             "--data-dir", str(self.data), *self.extra],
            stdout=subprocess.DEVNULL, stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        wait_until(f"{self.name} health", lambda: get_json(f"{self.url}{API}/health", 1), 120)
        return self

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def metrics(self):
        return get_json(f"{self.url}{API}/metrics")


class Balancer:
    """HAProxy in front of a list of node URLs; reload() swaps the list."""

    def __init__(self, root):
        self.root = Path(root)
        self.port = free_port()
        self.stats_port = free_port()
        self.procs = []
        self.generation = 0
        self.nodes = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _render(self, nodes):
        self.generation += 1
        cfg = self.root / f"haproxy-{self.generation}.cfg"
        text = subprocess.run(
            ["bash", str(RENDER), "--bind", f"127.0.0.1:{self.port}",
             "--stats", f"127.0.0.1:{self.stats_port}", "--log", "off",
             "--pidfile", str(self.root / "haproxy.pid"), *nodes],
            check=True, capture_output=True, text=True).stdout
        cfg.write_text(text)
        subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], check=True)
        return cfg

    def start(self, nodes):
        return self.reload(nodes)

    def reload(self, nodes):
        """Starts a new HAProxy with `nodes`; the old one (if any) finishes its
        connections and exits (-sf). Waits until every node is UP in the new one."""
        cfg = self._render(nodes)
        old = [p for p in self.procs if p.poll() is None]
        cmd = ["nice", "-n", "15", "haproxy", "-f", str(cfg)]
        if old:
            cmd += ["-sf", *[str(p.pid) for p in old]]
        self.procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL,
                                           stderr=open(self.root / "haproxy.log", "ab")))
        self.nodes = list(nodes)
        self.wait_servers_up(len(nodes))
        return self

    def server_states(self):
        """{server name: state} from the new process's Prometheus exporter."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/metrics", timeout=2) as r:
            text = r.read().decode()
        states = {}
        for line in text.splitlines():
            if line.startswith("haproxy_server_status{") and line.endswith(" 1"):
                labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.index("}")].split(","))
                states[labels["server"].strip('"')] = labels["state"].strip('"')
        return states

    def backend_counter(self, name):
        """A counter of the backend from the exporter, e.g. redispatch_warnings_total."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(f"haproxy_backend_{name}{{") and 'proxy="helios_nodes"' in line:
                    return int(float(line.rsplit(" ", 1)[1]))
        return 0

    def wait_servers_up(self, n, timeout=30):
        wait_until(f"{n} servers UP",
                   lambda: sum(1 for s in self.server_states().values() if s == "UP") == n
                   and len(self.server_states()) == n, timeout)

    def wait_state(self, server, state, timeout=30):
        wait_until(f"{server} {state}", lambda: self.server_states().get(server) == state, timeout)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Client:
    """Keep-alive JSON client of one base URL; reconnects when needed."""

    def __init__(self, base, timeout=30):
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.conn = None
        self.reconnects = 0

    def post(self, path, body, namespace=None):
        """Returns (status, json body, answering node or None)."""
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if namespace is not None:
            headers["X-Helios-Namespace"] = namespace
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.request("POST", path, data, headers)
                r = self.conn.getresponse()
                raw = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, (json.loads(raw) if raw else None), r.getheader("X-Helios-Node")
            except (http.client.HTTPException, ConnectionError, OSError):
                # A keep-alive connection the server closed meanwhile: one
                # fresh connection is allowed, as any HTTP client would.
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                self.reconnects += 1
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def lookup(self, ns, text):
        return self.post(f"{API}/lookup", {"input_text": text, "namespace": ns, "task_type": "bench",
                                           "use_l1": False, "use_l3": False}, ns)

    def store(self, ns, text, answer):
        return self.post(f"{API}/store", {"input_text": text, "namespace": ns, "task_type": "bench",
                                          "response_data": {"answer": answer}, "tokens_used": 100,
                                          "store_in_l1": False, "store_in_l3": False,
                                          "ttl_seconds": 86400}, ns)


class Workdir:
    def __init__(self, keep=False):
        self.path = Path(tempfile.mkdtemp(prefix="helios-cluster-"))
        self.keep = keep

    def cleanup(self):
        if self.keep:
            print(f"kept {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def default_binary():
    for c in (os.environ.get("HELIOS_BIN"), "/tmp/helios-node",
              str(DEPLOY.parent / "target" / "release" / "helios-cache"),
              str(DEPLOY.parent / "target" / "debug" / "helios-cache")):
        if c and Path(c).is_file():
            return c
    raise SystemExit("no helios-cache binary: set HELIOS_BIN or pass --bin")
