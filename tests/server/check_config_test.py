"""kc-server --check-config FILE: exit 0 for a good file, 1 with the key and
line for a bad one; the environment is not consulted (the Helm chart tests
validate the rendered file with it)."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kcapi import find_runfile  # noqa: E402

BIN = find_runfile("server/kc-server")


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([BIN] + list(args), capture_output=True, text=True, env=e, timeout=60)
    return r.returncode, r.stdout, r.stderr


class CheckConfig(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kcc-", dir=os.environ.get("TEST_TMPDIR"))

    def write(self, text):
        path = os.path.join(self.dir, "kc.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_example_file_is_valid(self):
        example = find_runfile("config/kc.example.yaml")
        rc, out, err = run("--check-config", example)
        self.assertEqual(rc, 0, err)
        self.assertIn("configuration OK", out)
        # The older spelling still works.
        self.assertEqual(run("--config", example, "--check-config")[0], 0)

    def test_bad_files_name_key_and_line(self):
        cases = [
            ("home: /h\nlimits:\n  max_running: 3\n", "limits.max_running: line 3: unknown key"),
            ("home: /h\nlimits:\n  max_running_tasks: 0\n", "limits.max_running_tasks: line 3"),
            ("server:\n  grpc_listen: nope\n", "server.grpc_listen: line 2"),
            ("agents:\n  default: a\n  list:\n    - name: a\n      command: [a]\n      ready_pattern: \"[\"\n",
             "agents.list[0].ready_pattern: line 6"),
            ("github_app:\n  app_id: \"1\"\n", "github_app.installation_id: line 2"),
            ("home: [1, 2]\n", "home: line 1"),
            ("home: /h\n  bad: indentation\n", "line 2"),
        ]
        for text, want in cases:
            rc, out, err = run("--check-config", self.write(text))
            self.assertEqual(rc, 1, (text, out, err))
            self.assertIn(want, err, text)
            self.assertEqual(out, "")

    def test_missing_file(self):
        rc, _, err = run("--check-config", os.path.join(self.dir, "nope.yaml"))
        self.assertEqual(rc, 1)
        self.assertIn("cannot open", err)

    def test_environment_is_not_consulted(self):
        path = self.write("home: /home/coder\n")
        rc, _, err = run("--check-config", path, env={"KC_GRPC_PORT": "not-a-port", "KC_HOME": "relative"})
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
