"""Probe a running JupyterLab server and report each hardening property.

:func:`selfcheck` logs in with the token (as a researcher would) and checks, over HTTP
and the kernel websocket only, so it works against a server on another host as well:

=================  ==========================================================  ==========
check              what is done                                                 expected
=================  ==========================================================  ==========
terminals          ``GET`` and ``POST /api/terminals``                           404
file_downloads     ``GET /files/<a file>`` and ``?download=1``                   403
nbconvert          ``/api/nbconvert``, ``/nbconvert/html/<nb>?download=true``    404
contents_api       ``GET /api/contents/<a file>?content=1``                      residual
kernel_egress      a kernel started through the API reports its interfaces,     no route,
                   routes (UDP ``connect``, which sends nothing) and tries TCP   no connect
                   connections to the server's own address and to ``targets``
remote_assets      the lab page, its configuration and every script and         no remote
                   stylesheet it loads, scanned for remote addresses in          load
                   loading positions (``src``, ``url()``, ``import()``, ...)
=================  ==========================================================  ==========

``residual`` is a property that no JupyterLab setting closes and that is reported as
such, not as a pass: the contents API gives a logged-in user the contents of every file
the server may read (so the boundary is what the server may read; ``docs/lab.md``).

Example::

    checks = selfcheck("http://127.0.0.1:8888", token)
    assert not [c for c in checks if c.status == "fail"]
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import httpx

from mikrodata.toolkit.errors import MikrodataError

__all__ = ["CHECKS", "Check", "KERNEL_PROBE", "remote_references", "run_in_kernel", "selfcheck"]


@dataclass(frozen=True)
class Check:
    """One property: ``status`` is ``pass``, ``fail`` or ``residual`` (a known gap that
    no setting closes, reported as such)."""

    name: str
    status: str
    expected: str
    observed: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


# Run inside the kernel. Prints one JSON line. UDP connect() picks a route and sends
# nothing, so asking whether documentation addresses (RFC 5737, RFC 3849) are routable
# reaches no one; TCP connections go only to the targets the caller names.
KERNEL_PROBE = r"""
import errno, json, os, socket
def _err(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
def _route(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.connect((addr, 9)); return "routable"
    except OSError as e:
        return _err(e)
    finally:
        s.close()
def _tcp(host, port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(3)
    try:
        s.connect((host, port)); return "connected"
    except OSError as e:
        return _err(e)
    finally:
        s.close()
try:
    _ns = os.readlink("/proc/self/ns/net")
except OSError:
    _ns = None
print(json.dumps({
    "isolation": os.environ.get("MIKRODATA_KERNEL_ISOLATION", "unknown"),
    "interfaces": [n for _, n in socket.if_nameindex()],
    "netns": _ns,
    "route_ipv4": _route(socket.AF_INET, "198.51.100.1"),
    "route_ipv6": _route(socket.AF_INET6, "2001:db8::1"),
    "tcp": {f"{h}:{p}": _tcp(h, p) for h, p in TARGETS},
}))
"""


def _client(base: str, token: str, timeout: float) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"token {token}"}, timeout=timeout)


def run_in_kernel(base: str, token: str, code: str, *, timeout: float = 60.0) -> str:
    """Start a kernel through the REST API, run ``code`` over the kernel websocket and
    return what it printed; the kernel is shut down afterwards."""
    import websocket

    with _client(base, token, timeout) as http:
        r = http.post("/api/kernels", json={"name": "python3"})
        r.raise_for_status()
        kernel = r.json()["id"]
        try:
            ws_url = re.sub(r"^http", "ws", base) + f"/api/kernels/{kernel}/channels"
            ws = websocket.create_connection(
                ws_url, header=[f"Authorization: token {token}"], timeout=timeout
            )
            try:
                return _execute(ws, code)
            finally:
                ws.close()
        finally:
            http.delete(f"/api/kernels/{kernel}")


def _execute(ws, code: str) -> str:
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "selfcheck",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False},
                "channel": "shell",
            }
        )
    )
    out: list[str] = []
    while True:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            out.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)


def _egress(base: str, token: str, targets: Iterable[tuple[str, int]], timeout: float) -> Check:
    own = urlsplit(base)
    wanted = [(own.hostname or "127.0.0.1", own.port or 80), *targets]
    code = f"TARGETS = {wanted!r}\n{KERNEL_PROBE}"
    printed = run_in_kernel(base, token, code, timeout=timeout)
    try:
        seen = json.loads(printed.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Check("kernel_egress", "fail", "a probe result", f"kernel printed {printed!r}")
    problems = []
    if seen["isolation"] in ("none", "unknown"):
        problems.append(f"no isolation mechanism in force ({seen['isolation']})")
    if [i for i in seen["interfaces"] if i != "lo"]:
        problems.append(f"interfaces {seen['interfaces']}")
    for family in ("route_ipv4", "route_ipv6"):
        if seen[family] == "routable":
            problems.append(f"{family[-4:]} addresses are routable")
    problems += [f"TCP to {t} connected" for t, r in seen["tcp"].items() if r == "connected"]
    observed = (
        f"isolation {seen['isolation']}, interfaces {seen['interfaces']}, "
        f"ipv4 {seen['route_ipv4']}, ipv6 {seen['route_ipv6']}, "
        + ", ".join(f"TCP {t} {r}" for t, r in seen["tcp"].items())
    )
    if problems:
        observed = "; ".join(problems) + f" ({observed})"
    expected = "kernel in its own network namespace: no route out, TCP refused"
    return Check("kernel_egress", "fail" if problems else "pass", expected, observed)


# ---------------------------------------------------------------------------- assets

# A remote address where a browser would load it: src/href attributes and properties,
# CSS url() and @import, dynamic import(), fetch(), importScripts(), Worker(). Links a
# user may click (<a href> in scripts) are not loads; in HTML every href is checked.
_LOADING = re.compile(
    r"""(?:\b(?:src|srcset)\s*[=:]\s*|url\(\s*|@import\s+|\bimport\(\s*|\bfetch\(\s*|"""
    r"""importScripts\(\s*|Worker\(\s*)["'`]?((?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^"'`)\s]*)"""
)
# Remote loads present in code that does not run here, with why.
KNOWN_REMOTE = {
    "github.com/": "contributor avatars in the extension manager, which is switched off",
    "cdn.jsdelivr.net/npm/@mapbox/maki": "map marker icons of plotly's map traces",
}


def remote_references(text: str) -> list[str]:
    """Remote addresses in ``text`` (HTML, CSS or JavaScript) in a loading position."""
    return sorted({m.group(1) for m in _LOADING.finditer(text)})


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href", "srcset") and v]


def _chunks(js: str) -> list[str]:
    """File names of the webpack chunks a bundle may load (from its ``.u=`` function)."""
    names = []
    for body in re.findall(r"\.u=\w+=>(.*?\.js)", js):
        override = dict(re.findall(r'(\d+)===\w+\?"(\w+)"', body))
        table = re.findall(r'(\w+):"([0-9a-f]{8,})"', body)
        if table:
            names += [f"{override.get(i, i)}.{h}.js" for i, h in table]
        else:
            single = re.search(r"\.([0-9a-f]{8,})\.js", body)
            if single:
                ids = set(re.findall(r"\b\w\.e\((\d+)\)", js))
                names += [f"{i}.{single.group(1)}.js" for i in sorted(ids)]
    return names


def _assets(base: str, token: str, timeout: float) -> Check:
    origin = urlsplit(base).netloc
    found: dict[str, list[str]] = {}
    with _client(base, token, timeout) as http:
        page = http.get("/lab")
        page.raise_for_status()
        html = page.text
        parser = _Refs()
        parser.feed(html)
        foreign = [r for r in parser.refs if urlsplit(r).netloc not in ("", origin)]
        if foreign:
            found["/lab"] = foreign
        config = json.loads(
            re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', html, re.S).group(1)
        )
        remote_config = sorted(
            set(re.findall(r"https?://[^\"'\s]+", json.dumps(config)))
            - {f"http://{origin}", f"https://{origin}"}
        )
        if remote_config:
            found["page config"] = remote_config
        refs = [r.split("?")[0] for r in parser.refs]
        queue = [urljoin(base + "/lab", r) for r in refs if r.endswith((".js", ".css"))]
        full_static = config.get("fullLabextensionsUrl", "/lab/extensions")
        for ext in config.get("federated_extensions", []):
            queue.append(urljoin(base + "/", f"{full_static}/{ext['name']}/{ext['load']}"))
            if ext.get("style"):
                queue.append(urljoin(base + "/", f"{full_static}/{ext['name']}/{ext['style']}"))
        seen: set[str] = set()
        while queue:
            url = queue.pop()
            if url in seen:
                continue
            seen.add(url)
            r = http.get(url)
            if r.status_code != 200:
                continue
            refs = remote_references(r.text)
            if refs:
                found[urlsplit(url).path] = refs
            if url.endswith(".js"):
                queue += [urljoin(url, name) for name in _chunks(r.text)]
    unknown = {
        where: [r for r in refs if not any(k in r for k in KNOWN_REMOTE)]
        for where, refs in found.items()
    }
    unknown = {w: r for w, r in unknown.items() if r}
    known = sorted(
        {why for refs in found.values() for r in refs for k, why in KNOWN_REMOTE.items() if k in r}
    )
    scanned = f"{len(seen)} scripts and stylesheets and the lab page scanned"
    expected = "every page and asset from this server"
    if unknown:
        listed = "; ".join(f"{w}: {', '.join(r[:3])}" for w, r in sorted(unknown.items()))
        return Check("remote_assets", "fail", expected, f"{scanned}; remote loads: {listed}")
    note = f"; known, in code that does not run here: {'; '.join(known)}" if known else ""
    return Check("remote_assets", "pass", expected, f"{scanned}, none remote{note}")


# ---------------------------------------------------------------------------- HTTP checks


def _files(http: httpx.Client, path: str = "") -> tuple[str | None, str | None]:
    """The first file and the first notebook under ``path`` (breadth first)."""
    queue, first_file, notebook = [path], None, None
    while queue and not (first_file and notebook):
        r = http.get(f"/api/contents/{quote(queue.pop(0))}", params={"content": 1})
        if r.status_code != 200:
            continue
        for item in r.json().get("content") or []:
            if item["type"] == "directory":
                queue.append(item["path"])
            elif item["type"] == "notebook":
                notebook = notebook or item["path"]
            elif item["type"] == "file":
                first_file = first_file or item["path"]
    return first_file, notebook


def _status(http: httpx.Client, method: str, path: str) -> int:
    return http.request(method, path).status_code


def _terminals(http: httpx.Client) -> Check:
    codes = [_status(http, "GET", "/api/terminals"), _status(http, "POST", "/api/terminals")]
    ok = codes == [404, 404]
    return Check("terminals", "pass" if ok else "fail", "404", f"GET {codes[0]}, POST {codes[1]}")


def _file_downloads(http: httpx.Client, file: str | None) -> Check:
    if file is None:
        return Check("file_downloads", "fail", "403", "no file found to try")
    q = quote(file)
    codes = [_status(http, "GET", f"/files/{q}"), _status(http, "GET", f"/files/{q}?download=1")]
    ok = codes == [403, 403]
    return Check("file_downloads", "pass" if ok else "fail", "403", f"/files/<{file}>: {codes}")


def _contents_api(http: httpx.Client, file: str | None) -> Check:
    expected = "known residual: the contents API returns a file to the logged-in user"
    if file is None:
        return Check("contents_api", "fail", expected, "no file found to try")
    r = http.get(f"/api/contents/{quote(file)}", params={"content": 1})
    leaked = r.status_code == 200 and r.json().get("content") is not None
    observed = f"/api/contents/<{file}>?content=1 answered {r.status_code}"
    if leaked:
        return Check("contents_api", "residual", expected, observed + " with the file's contents")
    return Check("contents_api", "pass", expected, observed)


def _nbconvert(http: httpx.Client, notebook: str | None) -> Check:
    codes = {"/api/nbconvert": _status(http, "GET", "/api/nbconvert")}
    if notebook:
        path = f"/nbconvert/html/{quote(notebook)}?download=true"
        codes[f"/nbconvert/html/<{notebook}>?download=true"] = _status(http, "GET", path)
    ok = all(c == 404 for c in codes.values()) and notebook is not None
    observed = ", ".join(f"{p} {c}" for p, c in codes.items())
    if notebook is None:
        observed += "; no notebook found to try"
    return Check("nbconvert", "pass" if ok else "fail", "404 (routes removed)", observed)


CHECKS = (
    "terminals",
    "file_downloads",
    "contents_api",
    "nbconvert",
    "kernel_egress",
    "remote_assets",
)


def selfcheck(
    url: str,
    token: str,
    *,
    targets: Iterable[tuple[str, int]] = (),
    only: Iterable[str] | None = None,
    timeout: float = 60.0,
) -> list[Check]:
    """Check the server at ``url`` (its base, e.g. ``http://127.0.0.1:8888`` or a hub
    user's ``https://hub/user/NAME``), logged in with ``token``. ``targets`` are extra
    ``(host, port)`` TCP addresses the kernel must not reach (the server's own address is
    always tried); ``only`` runs a subset of :data:`CHECKS`."""
    base = url.rstrip("/").removesuffix("/lab").removesuffix("/tree")
    wanted = list(CHECKS if only is None else only)
    unknown = sorted(set(wanted) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {CHECKS}")
    checks: list[Check] = []
    with _client(base, token, timeout) as http:
        try:
            status = http.get("/api/status").status_code
        except httpx.HTTPError as exc:
            raise MikrodataError(
                f"no Jupyter server answers at {base} ({type(exc).__name__})",
                "Start it (make lab) and give its address, e.g. http://127.0.0.1:8888",
            ) from None
        if status != 200:
            raise MikrodataError(
                f"the server at {base} answered {status} to the token",
                "Give the token the server was started with (--token or $JUPYTER_TOKEN)",
            )
        file, notebook = _files(http)
        run = {
            "terminals": lambda: _terminals(http),
            "file_downloads": lambda: _file_downloads(http, file or notebook),
            "contents_api": lambda: _contents_api(http, file or notebook),
            "nbconvert": lambda: _nbconvert(http, notebook),
            "kernel_egress": lambda: _egress(base, token, targets, timeout),
            "remote_assets": lambda: _assets(base, token, timeout),
        }
        checks = [run[name]() for name in CHECKS if name in wanted]
    return checks
