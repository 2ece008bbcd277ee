"""Load on the webhook as Twilio would bring it: gunicorn as in the Procfile, wrk posting pre-signed bodies.

Signatures are computed here, in Python, for PUBLIC_BASE_URL + /twilio/inbound (the URL Twilio signs), so the
Lua script (bench/wrk/signed_posts.lua) only cycles through a file and the full signature check still runs.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

import requests
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from ovop.core.db import ROOT, Database
from ovop.models import Message

LUA = Path(__file__).resolve().parent / "wrk" / "signed_posts.lua"
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "b" * 32
PUBLIC = "https://ovop.example.org"
SIGNED_URL = f"{PUBLIC}/twilio/inbound"
# The Procfile's web process: gthread workers, WEB_CONCURRENCY (3) processes of WEB_THREADS (8) threads, each
# process with a database pool of WEB_THREADS connections, a 14 s timeout (Twilio waits 15 s).
WORKERS = int(os.environ.get("BENCH_WORKERS") or 3)
THREADS = int(os.environ.get("BENCH_THREADS") or 8)


def wrk_path() -> str | None:
    return shutil.which("wrk")


def form(phone: str, channel: str, body: str, sid: str) -> dict[str, str]:
    """The form Twilio posts for one inbound message (the same fields as tests/helpers.inbound_form)."""
    sender = f"whatsapp:{phone}" if channel == "whatsapp" else phone
    return {"From": sender, "To": "whatsapp:+14155238886" if channel == "whatsapp" else "+15005550006",
            "Body": body, "MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "NumMedia": "0"}


def signed(fields: dict[str, str]) -> tuple[str, str]:
    """(X-Twilio-Signature, urlencoded body) as Twilio would send them to SIGNED_URL."""
    return RequestValidator(AUTH_TOKEN).compute_signature(SIGNED_URL, fields), urlencode(fields)


def write_bodies(path: Path, senders: list[tuple[str, str]], texts: list[str], count: int, prefix: str) -> Path:
    """`count` signed bodies with unique MessageSids; message i comes from sender i mod len(senders)."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            phone, channel = senders[i % len(senders)]
            text = texts[(i // len(senders) + i) % len(texts)]
            signature, body = signed(form(phone, channel, text, f"SM{prefix}{i:010d}"))
            out.write(f"{signature}\t{body}\n")
    return path


def app_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of the full app as deployed: signed webhooks, console outbound (no real sending)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TWILIO_", "BENCH_"))}
    env.update(DATABASE_URL=database_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
               PUBLIC_BASE_URL=PUBLIC, OUTBOUND_BACKEND="console", ADMIN_TOKEN="bench-admin-token",
               ADMIN_PASSWORD="bench-password", SECRET_KEY="bench-secret", STAFF_PHONES="",
               WEB_CONCURRENCY=str(WORKERS), WEB_THREADS=str(THREADS), **extra)
    return env


@contextlib.contextmanager
def gunicorn(app_spec: str, env: dict[str, str], port: int, workers: int = WORKERS,
             threads: int = THREADS) -> Iterator[int]:
    """Serve `app_spec` with the Procfile's gunicorn settings on 127.0.0.1:`port`; yields the master's pid."""
    command = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", str(workers),
               "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--timeout", "14", "--log-level",
               "warning", app_spec]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or its workers still importing the app
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app_spec} did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        # Every worker answers before the load starts (one /healthz per worker is not guaranteed: wait a bit).
        time.sleep(1.0)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def workers_of(master_pid: int) -> list[int]:
    """The pids of a gunicorn master's worker processes."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master_pid:
                children.append(int(entry.name))
    return sorted(children)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def wrk(url: str, bodies: Path, *, threads: int = 2, connections: int = 16, seconds: int = 10,
        delay_ms: int = 0) -> dict:
    """Run wrk with the signed-posts script; returns its figures plus requests per second."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "15s", "-s", str(LUA),
               url, "--", str(bodies), str(threads), str(max(0, int(delay_ms)))]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    lines = [line for line in finished.stdout.splitlines() if line.startswith("WRKJSON ")]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stdout[-1000:]} {finished.stderr[-1000:]}")
    result = json.loads(lines[-1].removeprefix("WRKJSON "))
    result["rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    result.update(connections=connections, threads=threads, seconds=seconds, delay_ms=int(delay_ms))
    return result


def inbound_count(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))


def preflight(port: int, fields: dict[str, str]) -> requests.Response:
    """One signed request, to check the app accepts our signatures before load is put on it."""
    signature, body = signed(fields)
    return requests.post(f"http://127.0.0.1:{port}/twilio/inbound", data=body, timeout=15,
                         headers={"X-Twilio-Signature": signature,
                                  "Content-Type": "application/x-www-form-urlencoded"})
