"""GitHub App tokens: kc-server signs a JWT (RS256) and exchanges it at a
loopback mock of the GitHub API, which verifies the signature with the
App's public key. The mock fails the first attempts, so the retry and the
reported error are checked too."""
import base64
import json
import os
import stat
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from kcapi import Server, wait_for  # noqa: E402

FAILURES = 2


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Mock(BaseHTTPRequestHandler):
    public_key = None
    requests = []
    fail_left = FAILURES

    def log_message(self, *a):
        pass

    def do_POST(self):
        cls = type(self)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        ok = False
        claims = {}
        if self.path == "/app/installations/4242/access_tokens" and auth.startswith("Bearer "):
            h, p, s = auth[7:].split(".")
            try:
                cls.public_key.verify(b64d(s), (h + "." + p).encode(), padding.PKCS1v15(), hashes.SHA256())
                header, claims = json.loads(b64d(h)), json.loads(b64d(p))
                ok = header["alg"] == "RS256" and claims["iss"] == "12345" and \
                    claims["iat"] < time.time() < claims["exp"] and claims["exp"] - claims["iat"] <= 600
            except Exception:
                ok = False
        cls.requests.append({"path": self.path, "verified": ok, "claims": claims})
        if cls.fail_left > 0:
            cls.fail_left -= 1
            self.send_response(500)
            self.end_headers()
            return
        body = json.dumps({"token": "ghs_mocktoken123", "expires_at": "2099-01-01T00:00:00Z"}).encode()
        self.send_response(201 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class GitHubApp(unittest.TestCase):
    def test_token_exchange_with_retry(self):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        Mock.public_key = key.public_key()
        httpd = HTTPServer(("127.0.0.1", 0), Mock)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        srv = None
        try:
            srv = Server(extra_yaml="")
            keyfile = os.path.join(srv.root, "app.pem")
            with open(keyfile, "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
            token_file = os.path.join(srv.home, ".config", "kube-coder", "github-token")
            with open(srv.config, "a") as f:
                f.write("""github_app:
  app_id: "12345"
  installation_id: "4242"
  private_key_file: %s
  api_url: http://127.0.0.1:%d
  token_file: %s
""" % (keyfile, httpd.server_address[1], token_file))
            srv.start()
            ws = "kc.v1.WorkspaceService"
            # The failure is reported while the retries go on...
            st = wait_for(lambda: (lambda s: s if "HTTP 500" in s.github_app.last_error else None)(
                srv.api.call(ws, "GetGitHubStatus")), 30, interval=0.02, what="reported failure")
            self.assertTrue(st.github_app.configured)
            self.assertFalse(st.github_app.token_valid)
            # ...and a retry gets the token.
            st = wait_for(lambda: (lambda s: s if s.github_app.token_valid else None)(
                srv.api.call(ws, "GetGitHubStatus")), 60, what="token")
            self.assertEqual(st.github_app.last_error, "")
            self.assertEqual(st.github_app.token_path, token_file)
            self.assertEqual(st.github_app.expires_at.value, 4070908800)
            self.assertGreater(st.github_app.refreshed_at.value, 0)
            self.assertEqual(open(token_file).read(), "ghs_mocktoken123")
            self.assertEqual(stat.S_IMODE(os.stat(token_file).st_mode), 0o600)
            self.assertGreaterEqual(len(Mock.requests), FAILURES + 1)
            self.assertTrue(all(r["verified"] for r in Mock.requests), Mock.requests)
        finally:
            httpd.shutdown()
            if srv:
                srv.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
