"""``headwater ingest`` against a running server, and ``headwater ingest sql``.

With ``--server URL`` (or HEADWATER_URL) and HEADWATER_API_KEY (an editor's key), ``ingest
openlineage`` and ``ingest dbt`` upload the file gzip-compressed as a background task
(``POST /api/v1/ingest/tasks``) and follow it until it finishes: a progress bar redrawn in place
(``\\r``) when stdout is a terminal, a line every few seconds (and on every change of status)
otherwise. Then the summary of what changed is printed as JSON; exit 0 when the task succeeded,
2 when it failed or was cancelled (the error goes to stderr).

``ingest sql`` prints the lineage of a SQL script as JSON or as a readable table, and records it
with ``--record``: on the server (``--server``), or in the store directly (``--tenant``).
Without either, the script is analysed offline, knowing only the columns ``--schema`` gives.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import httpx

from headwater.settings import Settings

__all__ = ["ProgressBar", "follow_task", "sql_table", "upload_task"]

EXIT_OK, EXIT_ERROR = 0, 2
FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


class ProgressBar:
    """One task's progress as text: redrawn in place on a terminal, periodic lines otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO, *, tty: bool | None = None, every: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.every = every
        self._last: tuple[str, int] | None = None
        self._printed_at = float("-inf")
        self._width = 0

    def line(self, task: dict[str, Any]) -> str:
        progress = int(task.get("progress") or 0)
        filled = self.WIDTH * progress // 100
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        text = f"task {task['id']} [{bar}] {progress:3d}% {task['status']}"
        if task.get("retries"):
            text += f" (retry {task['retries']}/{task['max_retries']}: {task.get('error') or ''})"
        return text

    def update(self, task: dict[str, Any]) -> None:
        state = (str(task["status"]), int(task.get("progress") or 0))
        now = time.monotonic()
        if self.tty:
            if state != self._last:
                text = self.line(task)
                self.stream.write("\r" + text + " " * max(0, self._width - len(text)))
                self._width = len(text)
                self.stream.flush()
        elif state != self._last and (
            self._last is None or state[0] != self._last[0] or now - self._printed_at >= self.every
        ):
            self.stream.write(self.line(task) + "\n")
            self.stream.flush()
            self._printed_at = now
        else:
            return
        self._last = state

    def finish(self, task: dict[str, Any]) -> None:
        if self._last != (str(task["status"]), int(task.get("progress") or 0)):
            self._last = None
            self.update(task)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def _headers(settings: Settings) -> dict[str, str] | None:
    if settings.api_key is None:
        print("error: set HEADWATER_API_KEY (an editor's API key)", file=sys.stderr)
        return None
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def follow_task(
    http: httpx.Client,
    task: dict[str, Any],
    headers: dict[str, str],
    bar: ProgressBar,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Poll ``GET /api/v1/tasks/{id}`` until the task finishes (its final state) or ``timeout``
    seconds pass (TimeoutError; the task goes on)."""
    failures = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    bar.update(task)
    while task["status"] not in FINAL_STATUSES:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"task {task['id']} is still {task['status']}")
        time.sleep(interval)
        try:
            response = http.get(f"/api/v1/tasks/{task['id']}", headers=headers)
        except httpx.TransportError:
            failures += 1
            if failures > 10:
                raise
            continue
        if response.status_code != 200:
            raise RuntimeError(
                f"reading task {task['id']}: {response.status_code} {_detail(response)}"
            )
        failures = 0
        task = response.json()
        bar.update(task)
    bar.finish(task)
    return task


def upload_task(
    settings: Settings,
    url: str,
    task_type: str,
    data: bytes,
    *,
    filename: str,
    params: dict[str, str],
    wait: bool = True,
    timeout: float | None = None,
    out: TextIO | None = None,
) -> int:
    """Upload ``data`` as a task of ``task_type``, follow it, print its summary."""
    out = out or sys.stdout
    headers = _headers(settings)
    if headers is None:
        return EXIT_ERROR
    body = gzip.compress(data, compresslevel=5)
    media = "application/x-ndjson" if task_type == "openlineage.ndjson" else "application/json"
    upload = {**headers, "Content-Encoding": "gzip", "Content-Type": media}
    query = {"type": task_type, "filename": filename[:200], **params}
    # A large upload may take minutes to send; each answer comes quickly.
    patience = httpx.Timeout(60.0, write=600.0)
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=patience) as http:
            response = http.post("/api/v1/ingest/tasks", params=query, content=body, headers=upload)
            if response.status_code != 202:
                print(
                    f"error: the upload was refused: {response.status_code} {_detail(response)}",
                    file=sys.stderr,
                )
                return EXIT_ERROR
            task = response.json()
            if not wait:
                print(json.dumps(task, indent=2), file=out)
                return EXIT_OK
            final = follow_task(http, task, headers, ProgressBar(out), timeout=timeout)
    except httpx.HTTPError as e:
        print(f"error: cannot reach {url}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except (KeyboardInterrupt, TimeoutError) as e:
        print(
            f"\nstopped following task {task['id']} ({e or 'interrupted'}); it goes on on the "
            f"server (POST /api/v1/tasks/{task['id']}/cancel stops it)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if final["status"] != "SUCCEEDED":
        reason = final.get("error") or "no error was recorded"
        verb = "was cancelled" if final["status"] == "CANCELLED" else "failed"
        print(f"error: task {final['id']} {verb}: {reason}", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(final["result"], indent=2), file=out)
    return EXIT_OK


def dbt_upload(manifest: bytes, catalog: bytes | None) -> bytes:
    """The body of a ``dbt.manifest`` task: the manifest, or both documents in one object (built
    from the bytes as read: neither is parsed here)."""
    if catalog is None:
        return manifest
    return b'{"manifest":' + manifest + b',"catalog":' + catalog + b"}"


def file_label(path: str) -> str:
    return "stdin" if path == "-" else Path(path).name


# ingest sql ---------------------------------------------------------------------------------------


def sql_over_http(settings: Settings, url: str, request: dict[str, Any]) -> dict[str, Any] | int:
    """``POST /api/v1/lineage/sql``; the result, or an exit code after printing the error."""
    headers = _headers(settings)
    if headers is None:
        return EXIT_ERROR
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=300.0) as http:
            response = http.post("/api/v1/lineage/sql", json=request, headers=headers)
    except httpx.HTTPError as e:
        print(f"error: cannot reach {url}: {e}", file=sys.stderr)
        return EXIT_ERROR
    if response.status_code != 200:
        print(f"error: {response.status_code}: {_detail(response)}", file=sys.stderr)
        return EXIT_ERROR
    result: dict[str, Any] = response.json()
    return result


def sql_offline(request: dict[str, Any]) -> dict[str, Any]:
    from headwater.ingest.sql_record import SqlLineageRequest, analyse_sql

    parsed = SqlLineageRequest.model_validate(request)
    return asyncio.run(analyse_sql(None, parsed)).model_dump(mode="json")


def sql_table(result: dict[str, Any]) -> str:
    """The lineage of a script as aligned text: statements, table edges, column edges."""
    lines: list[str] = []
    for s in result["statements"]:
        where = f"statement {s['index'] + 1} (line {s['line']}, column {s['column']})"
        lines.append(
            f"{where}: {s['kind']} {s['status']}" + (f": {s['reason']}" if s.get("reason") else "")
        )
        if s["inputs"]:
            lines.append(f"  reads   {', '.join(s['inputs'])}")
        if s["outputs"]:
            lines.append(f"  writes  {', '.join(s['outputs'])}")
    if result["table_edges"]:
        lines += ["", "table lineage (source -> target):"]
        lines += [f"  {e['source']} -> {e['target']}" for e in result["table_edges"]]
    if result["column_edges"]:
        rows = [
            (
                f"{e['source']['table']}.{e['source']['column']}",
                f"{e['target']['table']}.{e['target']['column']}",
                f"{e['type']}/{e['subtype']}",
            )
            for e in result["column_edges"]
        ]
        width = max(len(r[0]) for r in rows)
        target_width = max(len(r[1]) for r in rows)
        lines += ["", "column lineage (source -> target, kind):"]
        lines += [f"  {s:<{width}} -> {t:<{target_width}}  {k}" for s, t, k in rows]
    if result.get("warnings"):
        lines += ["", "warnings:"] + [f"  {w}" for w in result["warnings"]]
    if result.get("assets"):
        lines += ["", f"assets (namespace {result['namespace']}):"]
        lines += [f"  {table} = {name}" for table, name in result["assets"].items()]
    recorded = result.get("recorded")
    if recorded:
        lines += ["", "recorded:"]
        for key in ("assets", "fields", "relationships", "field_lineage"):
            counts = recorded[key]
            lines.append(
                f"  {key:<14} created {counts['created']}, updated {counts['updated']}, "
                f"unchanged {counts['unchanged']}"
            )
        lines += [
            f"  warning: {'.'.join(map(str, w['loc']))}: {w['msg']}" for w in recorded["warnings"]
        ]
    return "\n".join(lines)
