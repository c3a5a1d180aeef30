"""Many platform connections posting to the same messages at once: nothing lost, no 5xx."""

from __future__ import annotations

import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from tracker.domain.status import RANKS, Report, fold
from tracker.domain.timestamps import parse_time, zone

CLIENTS = 8
POSTS_PER_CLIENT = 25
IDS = range(900_000, 900_030)  # 30 messages shared by every client
STATES = [*RANKS, "mystery"]
MOSCOW = zone("Europe/Moscow")


def batches_for(client: int) -> list[list[dict]]:
    rnd = random.Random(client)
    return [
        [
            {
                "id_sms": rnd.choice([n, str(n)]),
                "time": f"2011-01-01 12:{rnd.randrange(10):02d}:00" if rnd.random() > 0.1 else "",
                "state": rnd.choice(STATES),
            }
            for n in rnd.sample(IDS, k=20)
        ]
        for _ in range(POSTS_PER_CLIENT)
    ]


def test_overlapping_concurrent_posts_lose_nothing_and_converge_on_the_fold(live_server):
    def run(client: int) -> list[tuple[int, list, list]]:
        results = []
        with live_server.client() as http:
            for batch in batches_for(client):
                response = http.post("/webhooks/webcom", json=batch)
                body = response.json() if response.status_code == 200 else None
                results.append((response.status_code, batch, body))
        return results

    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = [r for client in pool.map(run, range(CLIENTS)) for r in client]

    assert [status for status, _, _ in outcomes] == [200] * (CLIENTS * POSTS_PER_CLIENT)
    sent: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for _, batch, answer in outcomes:
        assert answer == [{"id_sms": item["id_sms"]} for item in batch]
        for item in batch:
            sent[int(item["id_sms"])].add((item["state"], item["time"]))

    assert live_server.settled()["projection"]["lag"] == 0
    with live_server.client() as http:
        for id_sms, reports in sent.items():
            history = http.get(f"/messages/{id_sms}/history").json()["reports"]
            assert sorted((r["state"], r["time"]) for r in history) == sorted(reports)
            expected = fold(Report(s, t, parse_time(t, MOSCOW)) for s, t in reports)
            state = http.get(f"/messages/{id_sms}").json()
            assert (state["state"], state["time"]) == (expected.state, expected.time)
