"""A fake open-data catalogue for the tests: CKAN's action API and a DCAT `data.json`, answered
with the real shapes (from the fixtures), plus the ways real catalogues fail.

A tiny WSGI app served by wsgiref in a thread on a free port. Tests change what it serves
through `FakeCatalogue.packages` and `.dcat`, and read the requests it saw in `.requests`.
"""

from __future__ import annotations

import atexit
import copy
import json
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class FakeCatalogue:
    """The fake server: `start()`, then `url(path)`; `stop()` at the end."""

    def __init__(self):
        self.packages: list[dict] = load_fixture("ckan_packages.json")
        self.dcat: dict = load_fixture("dcat_catalog.json")
        self.requests: list[dict] = []
        self.slow_seconds = 3.0
        self.redirect_target = "/dcat/data.json"
        self.server = None
        self.thread = None

    def reset(self) -> None:
        self.packages = load_fixture("ckan_packages.json")
        self.dcat = load_fixture("dcat_catalog.json")
        self.requests = []

    def start(self) -> FakeCatalogue:
        self.server = make_server(
            "127.0.0.1", 0, self.app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    # --- the WSGI app -----------------------------------------------------------------

    def app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        self.requests.append({"path": path, "query": query, "host": environ.get("HTTP_HOST")})
        status, headers, body = self.route(path, query)
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            headers = [("Content-Type", "application/json"), *headers]
        elif isinstance(body, str):
            body = body.encode()
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def route(self, path: str, query: dict):
        if path.endswith("/api/3/action/package_search"):
            prefix = path[: -len("/api/3/action/package_search")]
            if prefix == "/ckan-fails":
                return (
                    "200 OK",
                    [],
                    {
                        "help": "...",
                        "success": False,
                        "error": {"message": "Solr down", "__type": "Search Query Error"},
                    },
                )
            if prefix == "/ckan-error":
                return "500 INTERNAL SERVER ERROR", [], "<html>Internal Server Error</html>"
            return "200 OK", [], self.package_search(query)
        if path == "/dcat/data.json":
            return "200 OK", [], self.dcat
        if path == "/slow/data.json":
            time.sleep(self.slow_seconds)
            return "200 OK", [], self.dcat
        if path == "/error/data.json":
            return "500 INTERNAL SERVER ERROR", [], "<html>Internal Server Error</html>"
        if path == "/missing/data.json":
            return "404 NOT FOUND", [], "<html>Not Found</html>"
        if path == "/broken/data.json":
            return (
                "200 OK",
                [("Content-Type", "application/json")],
                '{"dataset": [{"identifier": "a", "title": ',
            )
        if path == "/html/data.json":
            return "200 OK", [("Content-Type", "text/html")], "<!doctype html><title>Portal</title>"
        if path == "/shape/data.json":
            return "200 OK", [], {"datasets": "not a list"}
        if path == "/big/data.json":
            return "200 OK", [], {"dataset": [], "padding": "x" * 200_000}
        if path == "/redirect/data.json":
            return "302 FOUND", [("Location", "/dcat/data.json")], ""
        if path == "/loop/data.json":
            return "302 FOUND", [("Location", "/loop/data.json")], ""
        if path == "/redirect-away/data.json":
            return "302 FOUND", [("Location", self.redirect_target)], ""
        return "404 NOT FOUND", [], "not found"

    def package_search(self, query: dict) -> dict:
        """CKAN 2.9+ `package_search`: `fq=organization:<name>`, `rows`, `start`."""
        fq = query.get("fq", [""])[0]
        organization = fq.split("organization:", 1)[1].strip('"') if "organization:" in fq else None
        rows = int(query.get("rows", ["10"])[0])
        start = int(query.get("start", ["0"])[0])
        found = [
            p for p in self.packages if organization is None or p["organization"]["name"] == organization
        ]
        found.sort(key=lambda p: p["name"])
        return {
            "help": "https://catalogue.example/api/3/action/help_show?name=package_search",
            "success": True,
            "result": {
                "count": len(found),
                "facets": {},
                "results": copy.deepcopy(found[start : start + rows]),
                "sort": "name asc",
                "search_facets": {},
            },
        }


_server: FakeCatalogue | None = None


def running_server() -> FakeCatalogue:
    """The one fake catalogue of this test run (started on first use), reset to the fixtures."""
    global _server
    if _server is None:
        _server = FakeCatalogue().start()
        atexit.register(_server.stop)
    _server.reset()
    return _server
