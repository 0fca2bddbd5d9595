#!/usr/bin/env python3
"""The fault suite's clients and its report (deploy/faults.sh). Standard library only.

`faults.py clients`: N threads send inbound-message commands, each with an Idempotency-Key of
its own, to the API nodes in turn, until the stop file appears.

Every attempt's answer is recorded: 2xx, 4xx, 5xx or unknown (no answer: connection refused or
reset, a timeout). A 5xx, an unknown answer, 429 and 409 (the first request with that key
still runs) are retried with the same key and body on the next node until a 2xx or another 4xx
answers, or for at most --give-up seconds. Each command's body is its key, so the log can be
searched for it. Writes one JSON line per attempt to --out:
  {"key", "node", "sent_ms", "answered_ms", "answer": "2xx|4xx|5xx|unknown", "status", "position"}

`faults.py webhooks`: every InboundMessageReceived event of the log reached the webhook receiver
(tests/fixtures/webhook_receiver.py), verified by the Standard Webhooks library.

`faults.py report`: one phase's attempts against the log: how many commands were sent and
acknowledged, how many acknowledged ones are not in the log (lost), how many are in it more than
once (duplicated), how long after the fault a command sent after it was first answered 2xx, and
the longest any command waited for its acknowledgement, retries included. Prints a Markdown table row; exits non-zero if anything was lost, duplicated, refused or
given up.
"""

import argparse
import collections
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse


def now_ms():
    return int(time.time() * 1000)


class Node:
    """One keep-alive connection to one API node."""

    def __init__(self, base, timeout):
        url = urllib.parse.urlparse(base)
        self.base, self.host, self.port, self.timeout = base, url.hostname, url.port, timeout
        self.conn = None

    def post(self, path, headers, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except Exception:
            self.conn.close()
            self.conn = None
            raise


def client(number, args, bases, out, lock):
    nodes = [Node(base, args.timeout) for base in bases]
    sent = 0
    while not os.path.exists(args.stop):
        sent += 1
        key = f"{args.phase}-{number}-{sent}"
        body = json.dumps({
            "inbox_id": args.inbox,
            "contact_id": f"+4917{(number * 7 + sent) % args.contacts:07d}",
            "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "content": {"type": "text", "body": key},
        })
        headers = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json",
                   "Idempotency-Key": key}
        first = now_ms()
        attempt = number + sent  # each command starts on the other node than the last
        while True:
            node = nodes[attempt % len(nodes)]
            attempt += 1
            record = {"key": key, "node": node.base, "sent_ms": now_ms()}
            try:
                status, answer = node.post("/v1/inbound-messages", headers, body)
                record["status"] = status
                record["answer"] = f"{status // 100}xx"
                if status // 100 == 2:
                    record["position"] = json.loads(answer)["position"]
            except Exception as e:  # no answer: the command may or may not have been written
                record["answer"], record["error"] = "unknown", type(e).__name__
            record["answered_ms"] = now_ms()
            with lock:
                out.write(json.dumps(record) + "\n")
            retry = record["answer"] in ("5xx", "unknown") or record.get("status") in (409, 429)
            if not retry:
                break
            if now_ms() - first > args.give_up * 1000:
                with lock:
                    out.write(json.dumps({"key": key, "gave_up": True, "sent_ms": now_ms()}) + "\n")
                break
            time.sleep(0.1 if record["answer"] == "unknown" else 0.2)


def clients(args):
    bases = args.nodes.split(",")
    lock = threading.Lock()
    with open(args.out, "w", buffering=1) as out:
        threads = [threading.Thread(target=client, args=(n, args, bases, out, lock)) for n in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def report(args):
    attempts = [json.loads(line) for line in open(args.attempts)]
    keys = collections.OrderedDict()
    for a in attempts:
        keys.setdefault(a["key"], []).append(a)
    answers = collections.Counter(a["answer"] for a in attempts if "answer" in a)
    acked = {k for k, tries in keys.items() if any(t.get("answer") == "2xx" for t in tries)}
    gave_up = {k for k, tries in keys.items() if any(t.get("gave_up") for t in tries)}
    refused = {k for k, tries in keys.items() if tries[-1].get("answer") == "4xx"}
    retried = {k for k, tries in keys.items() if len([t for t in tries if "answer" in t]) > 1}
    query = ("SELECT payload #>> '{content,body}', count(*) FROM events "
             "WHERE event_type = 'InboundMessageReceived' "
             f"AND payload #>> '{{content,body}}' LIKE '{args.phase}-%' GROUP BY 1")
    rows = subprocess.run(["psql", args.database_url, "-AtXF", "\t", "-c", query],
                          check=True, capture_output=True, text=True).stdout.split("\n")
    in_log = dict((k, int(n)) for k, n in (r.split("\t") for r in rows if r))
    lost = [k for k in acked if in_log.get(k, 0) == 0]
    duplicated = [k for k, n in in_log.items() if n > 1]
    stray = [k for k in in_log if k not in keys]
    # The first 2xx to a command sent at or after the fault, and the longest any command of
    # the phase waited, from its first attempt, for its acknowledgement (retries included).
    after = [a["answered_ms"] for a in attempts if a.get("answer") == "2xx" and a["sent_ms"] >= args.fault_ms]
    first = f"{min(after) - args.fault_ms} ms" if after else "never"
    waits = [min(t["answered_ms"] for t in tries if t.get("answer") == "2xx") - tries[0]["sent_ms"]
             for k, tries in keys.items() if k in acked]
    longest = f"{max(waits, default=0)} ms"
    print(f"| {args.title} | {len(keys)} | {len(acked)} | {len(retried)} | {answers['2xx']} / {answers['4xx']} / "
          f"{answers['5xx']} / {answers['unknown']} | {len(lost)} | {len(duplicated)} | {args.verify} | {first} | {longest} | {args.takeover} | {args.webhooks} |")
    problems = []
    for name, found in (("lost", lost), ("duplicated", duplicated), ("refused", refused), ("given up", gave_up),
                        ("in the log but never sent", stray)):
        if found:
            problems.append(f"{len(found)} {name}: {sorted(found)[:5]}")
    if not after:
        problems.append("no command sent after the fault was acknowledged")
    if problems:
        print(f"FAIL ({args.title}): " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


def webhooks(args):
    """Waits until the receiver has every InboundMessageReceived event of the log (its webhook-id
    is msg_<position>), each verified by the Standard Webhooks library; prints
    "<events> delivered, <repeats> repeated" or fails naming what is missing."""
    query = "SELECT global_position FROM events WHERE event_type = 'InboundMessageReceived'"
    expected = {f"msg_{p}" for p in subprocess.run(["psql", args.database_url, "-AtXc", query], check=True,
                                                     capture_output=True, text=True).stdout.split()}
    deadline = time.time() + args.wait
    while True:
        lines = [json.loads(line) for line in open(args.received)] if os.path.exists(args.received) else []
        ids = collections.Counter(r["webhook_id"] for r in lines if r.get("answered", 500) // 100 == 2)
        missing = expected - set(ids)
        if not missing or time.time() > deadline:
            break
        time.sleep(0.2)
    unverified = [r["webhook_id"] for r in lines if not r.get("v1_verified")]
    repeated = sum(n - 1 for n in ids.values())
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} events never delivered: {sorted(missing)[:5]}")
    if unverified:
        problems.append(f"{len(unverified)} deliveries failed the Standard Webhooks verifier: {unverified[:5]}")
    if problems:
        print("; ".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"{len(expected)} delivered, {repeated} repeated")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("clients")
    c.add_argument("--nodes", required=True, help="API nodes' base URLs, comma-separated")
    c.add_argument("--key", required=True)
    c.add_argument("--inbox", required=True)
    c.add_argument("--phase", required=True, help="what every Idempotency-Key starts with")
    c.add_argument("--clients", type=int, default=32)
    c.add_argument("--contacts", type=int, default=64)
    c.add_argument("--timeout", type=float, default=10.0)
    c.add_argument("--give-up", type=float, default=90.0)
    c.add_argument("--stop", required=True, help="the clients stop sending new commands once this file exists")
    c.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--attempts", required=True)
    r.add_argument("--phase", required=True)
    r.add_argument("--title", required=True)
    r.add_argument("--database-url", required=True)
    r.add_argument("--fault-ms", type=int, required=True)
    r.add_argument("--verify", required=True, help="what the read models' and the stream's checks found")
    r.add_argument("--takeover", default="–")
    r.add_argument("--webhooks", default="–", help="what faults.py webhooks said")
    w = sub.add_parser("webhooks")
    w.add_argument("--received", required=True, help="the receiver's log")
    w.add_argument("--database-url", required=True)
    w.add_argument("--wait", type=float, default=60.0)
    args = p.parse_args()
    {"clients": clients, "report": report, "webhooks": webhooks}[args.command](args)


if __name__ == "__main__":
    main()
