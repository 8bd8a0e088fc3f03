"""What reading the workspace vocabulary costs per turn: loading it from the store and finding its names in a request.

    python -m bench.vocabulary [--accounts 5000] [--owners 200] [--repeat 50]

The agent node loads the vocabulary from the store on every model turn and the offline model looks its names up in
the request, so both must stay in milliseconds as a workspace grows. This builds a synthetic SQLite workspace with
``--accounts`` accounts (one deal each) and ``--owners`` reps, then times ``load_vocabulary`` and ``find_terms`` on
a typical question. Target: both under 50 ms at 5,000 accounts. Prints JSON and writes
bench/results/vocabulary.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.memory_common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000, help="accounts (and deals) in the synthetic store")
    parser.add_argument("--owners", type=int, default=200, help="reps in the synthetic store")
    parser.add_argument("--repeat", type=int, default=50, help="timed runs of each step")
    options = parser.parse_args()

    from agent.offline.vocab import find_terms
    from sales.vocabulary import load_vocabulary
    from store.db import make_engine, session_scope, upgrade
    from store.models import Account, Deal, Role, User

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        with session_scope(engine) as s:
            users = [
                User(name=f"Rep{i} Person{i}", email=f"rep{i}@bench.example", role=Role.REP, region=f"Office {i % 7}")
                for i in range(options.owners)
            ]
            s.add_all(users)
            s.flush()
            accounts = [
                Account(name=f"Account {i:05d} Ltd", industry=f"industry {i % 20}") for i in range(options.accounts)
            ]
            s.add_all(accounts)
            s.flush()
            s.add_all(
                Deal(
                    name=f"D{i}",
                    owner_id=users[i % len(users)].id or 0,
                    account_id=a.id,
                    stage="Proposal",
                    product=f"Product {i % 30}",
                )
                for i, a in enumerate(accounts)
            )
        question = "How much revenue did Office 3 win in 2017 on Product 7 for Account 01234 Ltd, by rep?"
        loads, finds = [], []
        vocabulary = None
        for _ in range(options.repeat):
            start = time.perf_counter()
            with session_scope(engine, read_only=True) as s:
                vocabulary = load_vocabulary(s)
            loads.append(time.perf_counter() - start)
            start = time.perf_counter()
            terms = find_terms(question, vocabulary)
            finds.append(time.perf_counter() - start)
        engine.dispose()
    assert vocabulary is not None
    result = {
        "accounts": options.accounts,
        "owners": options.owners,
        "load_vocabulary_ms_p50": round(statistics.median(loads) * 1000, 2),
        "find_terms_ms_p50": round(statistics.median(finds) * 1000, 2),
        "terms_found": [f"{t.kind}:{t.value}" for t in terms],
    }
    write_result("vocabulary", result)


if __name__ == "__main__":
    main()
