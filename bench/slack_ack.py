"""Slack acknowledgement latency under a burst: 200 signed events at once at our Bolt app, on loopback.

    python -m bench.slack_ack [--events 200] [--concurrency 50]

Slack retries an event that is not acknowledged within 3 seconds, so the ack must stay fast however busy the app
is. This seeds the demo company into a temporary SQLite store, starts our loopback Slack Web API server
(``tests.slack_api``, the one the Slack tests use) and our Slack app (``bots.slack.app.build_slack_app`` with the
offline model, served by ``http_server`` on 127.0.0.1, port 0), then posts ``--events`` signed ``app_mention``
events from demo reps as fast as ``--concurrency`` client threads can, timing each HTTP round trip until the ack.
The answers run in Bolt's lazy listeners meanwhile; the time until every thread has its reply is reported too.
Baseline: a bare Bolt app with the same signature check whose listener only acks, behind the same server.
Prints JSON and writes bench/results/slack_ack.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.memory_common import percentiles, write_result

TOKEN = "xoxb-bench-token"
SECRET = "bench-signing-secret-0123456789abcdef"
TEAM, CHANNEL = "T0BENCH", "C0SALES"
QUESTIONS = ("what's my pipeline?", "show my open deals", "what are my tasks today?", "how many deals did I win?")


def _body(user: str, text: str, n: int) -> dict[str, Any]:
    ts = f"1700002000.{n:06d}"
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
    }
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0BENCH",
        "event": event,
        "type": "event_callback",
        "event_id": f"EvBench{n:06d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
    }


def _burst(url: str, bodies: list[dict[str, Any]], concurrency: int) -> tuple[list[float], int]:
    import httpx
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(SECRET)
    local = threading.local()

    def post(body: dict[str, Any]) -> tuple[float, int]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
        raw = json.dumps(body)
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=raw) or "",
        }
        t = time.perf_counter()
        try:
            status = client.post(url, content=raw, headers=headers).status_code
        except httpx.TransportError:  # refused or reset: Slack would retry it, so it counts as not acknowledged
            status = 0
        return time.perf_counter() - t, status

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(post, bodies))
    acked = [r[0] * 1000 for r in results if r[1] == 200]
    return acked or [float("nan")], sum(1 for r in results if r[1] != 200)


def _serve(app: Any) -> tuple[Any, str]:
    from bots.slack.app import http_server

    server = http_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/slack/events"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--answer-timeout", type=float, default=300.0, help="seconds to wait for every reply")
    args = parser.parse_args()

    from slack_bolt import App
    from slack_sdk import WebClient
    from sqlmodel import Session, col, select

    from app.services import Services
    from app.settings import Settings
    from bots.slack.app import build_slack_app
    from bots.slack.manifest import BOT_SCOPES
    from sales.demo import seed_demo
    from store.db import make_engine, session_scope, upgrade
    from store.models import Role, User
    from tests.slack_api import SlackAPIServer

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        engine = make_engine(f"sqlite:///{home / 'salesgraph.db'}")
        upgrade(engine)
        with session_scope(engine) as s:
            seed_demo(s, seed=7)
        with Session(engine) as s:
            people = s.exec(select(User).where(col(User.slack_user_id).is_not(None))).all()
            users = {str(u.slack_user_id): u.email for u in people}
            reps = [str(u.slack_user_id) for u in people if u.role == Role.REP]
        bodies = [_body(reps[n % len(reps)], QUESTIONS[n % len(QUESTIONS)], n) for n in range(args.events)]
        with SlackAPIServer(token=TOKEN, users=users, scopes=BOT_SCOPES) as slack:
            settings = Settings(
                home_dir=home,
                slack_bot_token=TOKEN,
                slack_signing_secret=SECRET,
                slack_api_url=slack.base_url,
            )
            services = Services(settings=settings, engine=engine)

            bare = App(
                signing_secret=SECRET,
                client=WebClient(token=TOKEN, base_url=slack.base_url),
                token_verification_enabled=False,
            )
            bare.event("app_mention")(lambda ack: ack())
            server, url = _serve(bare)
            _burst(url, [_body(reps[0], QUESTIONS[0], args.events + 10 + n) for n in range(10)], 5)  # warm up
            base_ms, base_failed = _burst(url, bodies, args.concurrency)
            server.shutdown()
            server.server_close()

            server, url = _serve(build_slack_app(services, "offline"))
            # warm up (first-request imports, model, checkpointer) with events outside the measured set
            _burst(url, [_body(reps[0], QUESTIONS[0], args.events + n) for n in range(5)], 5)
            time.sleep(2)
            t0 = time.perf_counter()
            ours_ms, ours_failed = _burst(url, bodies, args.concurrency)
            burst_s = time.perf_counter() - t0
            deadline = time.monotonic() + args.answer_timeout
            roots = {b["event"]["ts"] for b in bodies}

            def answered() -> int:
                return len({c.params.get("thread_ts") for c in slack.calls("chat.postMessage")} & roots)

            while answered() < len(roots) and time.monotonic() < deadline:
                time.sleep(0.2)
            all_answered_s = time.perf_counter() - t0
            replies = answered()
            server.shutdown()
            server.server_close()
        engine.dispose()
    write_result(
        "slack_ack",
        {
            "benchmark": "slack_ack",
            "events": args.events,
            "concurrency": args.concurrency,
            "ours_ack": percentiles(ours_ms) | {"max_ms": round(max(ours_ms), 2), "non_200": ours_failed},
            "baseline_bare_bolt_ack": percentiles(base_ms) | {"max_ms": round(max(base_ms), 2), "non_200": base_failed},
            "burst_seconds": round(burst_s, 2),
            "threads_answered": replies,
            "seconds_until_every_thread_answered": round(all_answered_s, 1) if replies == len(bodies) else None,
        },
    )


SUITE = [{"label": "200 events", "args": ["--events", "200"], "timeout_s": 600}]


def summarize(result: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [
        {
            "figure": f"ack p99 under a {result['events']}-event burst ({result['ours_ack']['non_200']} not acked)",
            "ours": result["ours_ack"]["p99_ms"],
            "baseline": result["baseline_bare_bolt_ack"]["p99_ms"],
            "baseline_name": f"bare Bolt app that only acks ({result['baseline_bare_bolt_ack']['non_200']} not acked)",
            "unit": "ms",
        },
        {
            "figure": f"threads answered (of {result['events']}), seconds until the last",
            "ours": result["threads_answered"],
            "baseline_name": f"last answer after {result['seconds_until_every_thread_answered']} s",
        },
    ]


if __name__ == "__main__":
    main()
