"""tests/integration/test_install.py: `meson install --destdir` into a temporary folder gives an
operator everything: the binaries, the system config, the example class, the public header with
its pkg-config file, the man page and a systemd unit that verifies; the installed gateway runs
with the installed config and serves the installed class.

Run: DURO_BUILD_DIR=build DURO_MESON=meson /usr/bin/python3 tests/integration/test_install.py -v
"""

import asyncio
import os
import shutil
import subprocess
import tempfile
import unittest

import websockets

from harness import Gateway, run_async

BUILD = os.environ.get("DURO_BUILD_DIR", "")
MESON = os.environ.get("DURO_MESON", shutil.which("meson") or "meson")
INSTALL_TIMEOUT_S = 120


def find(root, name):
    """The one path under root whose basename is name."""
    hits = [os.path.join(d, name) for d, _, files in os.walk(root) if name in files]
    if len(hits) != 1:
        raise AssertionError(f"{name}: expected one installed copy, found {hits}")
    return hits[0]


@unittest.skipUnless(BUILD, "DURO_BUILD_DIR not set")
class InstallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="duro-install-")
        cls.dest = os.path.join(cls.tmp, "root")
        p = subprocess.run([MESON, "install", "-C", BUILD, "--no-rebuild", "--quiet",
                            "--destdir", cls.dest], capture_output=True, text=True,
                           timeout=INSTALL_TIMEOUT_S)
        if p.returncode != 0:
            shutil.rmtree(cls.tmp, True)
            raise AssertionError("meson install failed:\n" + p.stdout + p.stderr)
        cls.gateway = find(cls.dest, "duro-gateway")
        cls.worker = find(cls.dest, "duro-worker")
        cls.ini = find(cls.dest, "duro.ini")
        cls.unit = find(cls.dest, "duro.service")
        # The install prefix as the unit names it: DEST + PREFIX/bin/duro-gateway.
        cls.prefix = os.path.dirname(os.path.dirname(cls.gateway))[len(cls.dest):]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def installed(self, rel):
        path = os.path.join(self.dest + self.prefix, rel)
        self.assertTrue(os.path.isfile(path), f"{rel} not installed under {self.prefix}")
        return path

    def test_layout(self):
        self.assertTrue(os.access(self.gateway, os.X_OK))
        self.assertEqual(os.path.dirname(self.gateway), os.path.dirname(self.worker))
        self.assertTrue(self.ini.startswith(self.dest + self.prefix + "/etc/duro/")
                        or self.ini == os.path.join(self.dest, "etc/duro/duro.ini"), self.ini)
        self.installed("lib/duro/presence.so")
        self.installed("include/duro/class.h")
        self.installed("share/man/man8/duro-gateway.8")
        self.installed("share/doc/duro/haproxy-tls-single.cfg")
        self.installed("share/doc/duro/examples/presence/presence.c")
        man = subprocess.run(["man", "-l", self.installed("share/man/man8/duro-gateway.8")],
                             capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING=""))
        if man.returncode == 0:  # man-db present: the page renders and names the program
            self.assertIn("duro-gateway", man.stdout)

    def test_class_builds_with_pkg_config(self):
        """A class author's build: pkg-config's cflags find the installed header."""
        pc = find(self.dest, "duro.pc")
        pkgconf = shutil.which("pkg-config")
        cc = shutil.which("cc")
        if pkgconf is None or cc is None:
            self.skipTest("pkg-config or cc not installed")
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pc))
        flags = subprocess.run([pkgconf, "--define-variable=prefix=" + self.dest + self.prefix,
                                "--cflags", "duro"], capture_output=True, text=True, env=env,
                               check=True, timeout=30).stdout.split()
        classdir = subprocess.run([pkgconf, "--variable=classdir", "duro"], capture_output=True,
                                  text=True, env=env, check=True, timeout=30).stdout.strip()
        self.assertEqual(classdir, self.prefix + "/lib/duro")
        out = os.path.join(self.tmp, "mine.so")
        src = self.installed("share/doc/duro/examples/presence/presence.c")
        p = subprocess.run([cc, "-shared", "-fPIC", *flags, "-o", out, src], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_installed_gateway_serves_installed_class(self):
        # Another working directory: the class path is resolved against the config's directory.
        cwd = os.getcwd()
        os.chdir(self.tmp)
        self.addCleanup(os.chdir, cwd)
        env = {k: v for k, v in os.environ.items() if k != "DURO_WORKER"}
        check = subprocess.run([self.gateway, "-c", self.ini, "--check"], capture_output=True,
                               text=True, timeout=30, env=env)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("config ok", check.stdout + check.stderr)
        gw = Gateway(self, gateway_bin=self.gateway, worker_bin=self.worker,
                     config_path=self.ini, env=env)

        async def run():
            opts = dict(compression=None, open_timeout=5, close_timeout=5, ping_interval=None)
            async with websockets.connect(gw.ws_url("/presence/lobby?user=ann"), **opts) as ann:
                async with websockets.connect(gw.ws_url("/presence/lobby?user=bob"), **opts) as b:
                    self.assertEqual(await asyncio.wait_for(ann.recv(), 5), "join bob (2 online)")
                    await b.send("hello")
                    self.assertEqual(await asyncio.wait_for(ann.recv(), 5), "bob: hello")
            async with websockets.connect(gw.ws_url("/websocket"), **opts) as seed:
                await seed.send("hi")
                self.assertEqual(await asyncio.wait_for(seed.recv(), 5),
                                 "[Durable Object] message: hi, connections: 1")
        run_async(run())

    def test_installed_unit_verifies(self):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze not installed")
        with open(self.unit, encoding="utf-8") as f:
            text = f.read()
        exec_start = next(l for l in text.splitlines() if l.startswith("ExecStart="))
        argv = exec_start[len("ExecStart="):].split()
        self.assertEqual(argv[0], self.gateway[len(self.dest):])
        self.assertEqual(argv[1:3], ["-c", self.ini[len(self.dest):]])
        # systemd-analyze checks the paths on this machine: point them into the staged tree,
        # and let man find the staged page that Documentation= names.
        staged = os.path.join(self.tmp, "duro.service")
        with open(staged, "w", encoding="utf-8") as f:
            f.write(text.replace("=" + self.prefix + "/", "=" + self.dest + self.prefix + "/"))
        env = dict(os.environ, MANPATH=self.dest + self.prefix + "/share/man")
        p = subprocess.run([analyze, "verify", staged], capture_output=True, text=True,
                           timeout=60, env=env)
        problems = [l for l in (p.stdout + p.stderr).splitlines() if "duro.service" in l]
        self.assertEqual(problems, [], p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
