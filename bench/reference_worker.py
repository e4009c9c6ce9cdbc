"""The Python reference for `make bench`'s worker CPU comparison (bench/src/worker_cpu.rs).

A plain boto3 + psycopg worker doing exactly what event-archive does with each message: receive up to ten
(long poll, receive count and message attributes, like the Rust runtime), parse the CloudEvent, record its id in
the inbox and write one `archived_events` row in the same transaction (a duplicate is skipped), a message that
is not a CloudEvent is left for the redrive policy, then delete the handled ones with one DeleteMessageBatch.

`--per-message` gives each message its own transaction (what a first Python worker would do); the default is one
transaction per received batch with the same statements as the Rust inbox (multi-row INSERT ... ON CONFLICT DO
NOTHING RETURNING, then the archive rows of the new events), so both sides do the same database work.

Environment, as for the Rust workers: QUEUE_URL, DATABASE_URL, DATABASE_SCHEMA, WAIT_TIME_SECONDS (20),
VISIBILITY_TIMEOUT_SECONDS (30), AWS_ENDPOINT_URL, AWS_REGION and credentials. Prints `ready` on stdout once
connected; runs until killed.
"""

import argparse
import json
import os
import sys

import boto3
import psycopg
from psycopg.types.json import Jsonb

INBOX = "INSERT INTO inbox (message_key, event_type) VALUES (%s, %s) ON CONFLICT (message_key) DO NOTHING"
ARCHIVE = (
    "INSERT INTO archived_events (event_id, event_type, source, subject, time, body) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"
)


def parse(body):
    """The CloudEvent in `body`, or None when it is not one."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict) or not all(k in event for k in ("specversion", "id", "type", "source")):
        return None
    return event


def archive_row(event):
    return (
        event["id"],
        event["type"],
        event["source"],
        event.get("subject"),
        event.get("time"),
        Jsonb(event),
    )


def handle_per_message(conn, events):
    for event in events:
        with conn.transaction():
            cur = conn.execute(INBOX, (event["id"], event["type"]))
            if cur.rowcount == 1:
                conn.execute(ARCHIVE, archive_row(event))


def handle_batch(conn, events):
    # One transaction for the batch: claim the new ids (a duplicate within the batch or of an earlier delivery
    # comes back from neither), then archive the events that were claimed.
    placeholders = ", ".join(["(%s, %s)"] * len(events))
    params = [v for e in events for v in (e["id"], e["type"])]
    with conn.transaction():
        cur = conn.execute(
            f"INSERT INTO inbox (message_key, event_type) VALUES {placeholders} "
            "ON CONFLICT (message_key) DO NOTHING RETURNING message_key",
            params,
        )
        claimed = {row[0] for row in cur.fetchall()}
        rows, seen = [], set()
        for event in events:
            if event["id"] in claimed and event["id"] not in seen:
                seen.add(event["id"])
                rows.append(archive_row(event))
        if rows:
            with conn.cursor() as c:
                c.executemany(ARCHIVE, rows)


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--per-message", action="store_true", help="one transaction per message")
    opts = args.parse_args()

    queue_url = os.environ["QUEUE_URL"]
    wait = min(int(os.environ.get("WAIT_TIME_SECONDS", "20")), 20)
    visibility = int(os.environ.get("VISIBILITY_TIMEOUT_SECONDS", "30"))
    sqs = boto3.client(
        "sqs",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    conn.execute(f"SET search_path TO \"{os.environ['DATABASE_SCHEMA']}\"")
    handle = handle_per_message if opts.per_message else handle_batch

    print("ready", flush=True)
    while True:
        try:
            out = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait,
                VisibilityTimeout=visibility,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            )
        except Exception as error:  # noqa: BLE001 - a worker keeps polling
            print(f"receive failed: {error}", file=sys.stderr, flush=True)
            continue
        messages = out.get("Messages", [])
        if not messages:
            continue
        events, handled = [], []
        for m in messages:
            event = parse(m["Body"])
            if event is None:
                print(f"rejecting {m['MessageId']}: not a CloudEvent", file=sys.stderr, flush=True)
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
                continue
            events.append(event)
            handled.append(m)
        if events:
            handle(conn, events)
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(handled)],
            )


if __name__ == "__main__":
    main()
