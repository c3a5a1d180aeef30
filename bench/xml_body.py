"""Reading an XML webhook body: the tracker's element-by-element reader against plain ElementTree.

    .venv/bin/python bench/xml_body.py [--items 5000] [--rounds 5]

A body of ``--items`` ``<state>`` elements in the platform's documented form (ids shuffled, a
third with both channel attributes, as a Viber-then-SMS cascade sends them) is read, in the
same round, by:

- **etree (baseline)**: what a user would write with the standard library:
  ``xml.etree.ElementTree.fromstring`` and one loop over the elements, taking id, time, state
  and channels. It is not safe for a hostile sender (it parses a DTD and expands internal
  entities) and keeps nothing of an element it cannot read;
- **tracker XML**: ``web.xml_intake.read_body``: the documented form in one pass of a pattern
  (``web.xml_plain``), as the webhook reads such a body;
- **tracker XML, element by element**: the same with the pattern's pass off (expat with no DTD,
  every element judged on its own, its raw bytes kept when it is not the documented form): what
  any other body costs;
- **tracker JSON**: the same statuses as the JSON webhook's body, read by ``web.intake``'s
  typed pass (for scale: what the same batch costs in the other format).

Each figure is the median over ``--rounds`` of the best of three reads, as items a second and
as a ratio to the baseline measured in the same round (these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import partial

import msgspec

from tracker.web import intake, xml_intake


def bodies(items: int, seed: int = 7) -> tuple[bytes, bytes]:
    rnd = random.Random(seed)
    ids = rnd.sample(range(10_000_000, 99_999_999), items)
    states = ["send", "partly_deliver", "deliver", "read", "not_deliver", "expired"]
    xml, json = [], []
    for n, id_sms in enumerate(ids):
        state, second = rnd.choice(states), n % 60
        time_ = f"2026-12-06 10:{second // 10:02d}:{second:02d}"
        channels = ' sms="not_deliver" viber="read"' if n % 3 == 0 else ""
        xml.append(f'<state id_sms="{id_sms}" time="{time_}"{channels}>{state}</state>')
        json.append({"id_sms": id_sms, "time": time_, "state": state})
    head = '<?xml version="1.0" encoding="utf-8" ?>\n<response>\n'
    return (head + "\n".join(xml) + "\n</response>").encode(), msgspec.json.encode(json)


def etree_read(body: bytes) -> list[tuple]:
    root = ET.fromstring(body)
    return [
        (
            int(e.get("id_sms")),  # type: ignore[arg-type]
            e.get("time"),
            (e.text or "").strip(),
            {k: e.get(k) for k in ("sms", "viber") if e.get(k) is not None} or None,
        )
        for e in root.iter("state")
    ]


def best_of_three(read: Callable[[bytes], object], body: bytes) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        read(body)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    xml, json = bodies(args.items)
    assert len(xml_intake.read_body(xml).statuses) == len(etree_read(xml)) == args.items
    readers = {
        "etree (baseline)": (etree_read, xml),
        "tracker XML": (xml_intake.read_body, xml),
        "tracker XML, element by element": (partial(xml_intake.read_body, plain=False), xml),
        "tracker JSON": (intake.read_body, json),
    }
    rounds: dict[str, list[float]] = {name: [] for name in readers}
    ratios: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(args.rounds):
        seconds = {name: best_of_three(read, body) for name, (read, body) in readers.items()}
        for name, s in seconds.items():
            rounds[name].append(args.items / s)
            ratios[name].append(seconds["etree (baseline)"] / s)
    print(f"{args.items} statuses a body ({len(xml):,} bytes as XML, {len(json):,} as JSON)")
    for name in readers:
        each = ", ".join(f"{r:.2f}" for r in ratios[name])
        print(
            f"{name:32} {statistics.median(rounds[name]):>12,.0f} items/s   "
            f"x{statistics.median(ratios[name]):.2f} of the baseline (rounds: {each})"
        )


if __name__ == "__main__":
    main()
