"""A small stand-in for the Hugging Face Hub on 127.0.0.1, for tests: it serves folders as dataset and model
repositories the way the Hub's HTTP API does (repo info, tree, paths-info, resolve) and accepts uploads
(create repo, preupload, commit), so that `datasets.load_dataset("org/name")`, `hf_hub_download` and
`HfApi.upload_folder` run their real code against it with `HF_ENDPOINT` pointing here. Nothing leaves the loopback.

Only what those clients use is implemented; every request is logged in `LocalHub.requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


class LocalHub:
    """Repositories live under `root/<datasets|models>/<org>/<name>/`; `start()` serves them on a free port."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests: list[tuple[str, str]] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def repo(self, kind: str, repo_id: str) -> Path:
        return self.root / f"{kind}s" / repo_id

    def add(self, kind: str, repo_id: str, folder: Path) -> None:
        shutil.copytree(folder, self.repo(kind, repo_id), dirs_exist_ok=True)

    def commit(self, kind: str, repo_id: str) -> str:
        """A commit sha that changes with the repository's content."""
        digest = hashlib.sha1()
        for path in sorted(self.repo(kind, repo_id).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(self.repo(kind, repo_id)).as_posix().encode() + path.read_bytes())
        return digest.hexdigest()

    def start(self) -> LocalHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                hub._handle(self, "HEAD")

            def do_GET(self):
                hub._handle(self, "GET")

            def do_POST(self):
                hub._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # ------------------------------------------------------------------------------------------ requests
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(h.path)
        path = unquote(url.path)
        self.requests.append((method, path))
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0)) if method == "POST" else b""
        parts = path.strip("/").split("/")
        try:
            if parts[:1] == ["api"]:
                return self._api(h, method, parts[1:], parse_qs(url.query), body)
            kind = "dataset" if parts[0] == "datasets" else "model"
            parts = parts[1:] if kind == "dataset" else parts
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(h, method, kind, "/".join(parts[:2]), "/".join(parts[4:]))
        except FileNotFoundError:
            return self._json(h, 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
        self._json(h, 404, {"error": f"not served by the test hub: {method} {path}"})

    def _api(self, h, method, parts, query, body):
        if parts == ["repos", "create"]:
            data = json.loads(body)
            repo_id = f"{data.get('organization') or 'user'}/{data['name']}"
            self.repo(data.get("type", "model"), repo_id).mkdir(parents=True, exist_ok=True)
            return self._json(h, 200, {"url": f"{self.endpoint}/datasets/{repo_id}", "name": repo_id})
        if parts == ["validate-yaml"]:
            return self._json(h, 200, {"errors": [], "warnings": []})
        if parts[:1] == ["whoami-v2"]:
            return self._json(h, 200, {"name": "user", "type": "user", "orgs": [], "auth": {}})
        kind = parts[0][:-1]  # "datasets" / "models"
        repo_id, rest = "/".join(parts[1:3]), parts[3:]
        repo = self.repo(kind, repo_id)
        if not repo.is_dir():
            return self._json(h, 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        if not rest or rest[0] == "revision":
            files = [p for p in sorted(repo.rglob("*")) if p.is_file()]
            return self._json(
                h,
                200,
                {
                    "id": repo_id,
                    "sha": self.commit(kind, repo_id),
                    "private": False,
                    "disabled": False,
                    "gated": False,
                    "downloads": 0,
                    "likes": 0,
                    "tags": [],
                    "lastModified": "2026-01-01T00:00:00.000Z",
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "author": repo_id.split("/")[0],
                    "siblings": [
                        {"rfilename": p.relative_to(repo).as_posix(), "size": p.stat().st_size} for p in files
                    ],
                },
            )
        if rest[0] == "tree":
            sub = "/".join(rest[2:])
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            base = repo / sub
            if not base.exists():
                raise FileNotFoundError(sub)
            items = base.rglob("*") if recursive else base.iterdir()
            return self._json(h, 200, [self._entry(repo, p) for p in sorted(items)])
        if rest[0] == "paths-info":
            fields = parse_qs(body.decode()) if body and not body.startswith(b"{") else json.loads(body or b"{}")
            paths = fields.get("paths", [])
            return self._json(h, 200, [self._entry(repo, repo / p) for p in paths if (repo / p).exists()])
        if rest[0] == "preupload":
            files = json.loads(body)["files"]
            return self._json(
                h,
                200,
                {
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files
                    ],
                    "commitOid": self.commit(kind, repo_id),
                },
            )
        if rest[0] == "commit":
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    target = repo / item["value"]["path"]
                    if repo.resolve() not in target.resolve().parents:
                        return self._json(h, 400, {"error": "path outside the repository"})
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(item["value"]["content"]))
            sha = self.commit(kind, repo_id)
            return self._json(
                h,
                200,
                {"commitUrl": f"{self.endpoint}/{repo_id}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None},
            )
        self._json(h, 404, {"error": f"not served by the test hub: {'/'.join(parts)}"})

    def _entry(self, repo: Path, path: Path) -> dict:
        rel = path.relative_to(repo).as_posix()
        if path.is_dir():
            return {"type": "directory", "path": rel, "oid": hashlib.sha1(rel.encode()).hexdigest()}
        return {
            "type": "file",
            "path": rel,
            "size": path.stat().st_size,
            "oid": hashlib.sha1(path.read_bytes()).hexdigest(),
        }

    def _resolve(self, h, method, kind, repo_id, rel):
        file = self.repo(kind, repo_id) / rel
        if not file.is_file():
            raise FileNotFoundError(rel)
        data = file.read_bytes()
        headers = {
            "X-Repo-Commit": self.commit(kind, repo_id),
            "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
            "Content-Length": str(len(data)),
            "Content-Type": "application/octet-stream",
        }
        h.send_response(200)
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        if method == "GET":
            h.wfile.write(data)

    @staticmethod
    def _json(h, status, payload, headers=None):
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
