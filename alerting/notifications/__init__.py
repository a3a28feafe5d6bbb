"""Alerts reach people off-app (SPEC §6): who is told, the outbox, the senders, the channels.

- `plan`: who is told of an alert step (on-duty members, the next level, the family, maintenance contacts),
  and when (quiet hours, the family's wait); written to the outbox in the alert's own transaction;
- `outbox`: the rows, claimed with `SKIP LOCKED`, retried with backoff, every attempt in the alert's history;
- `senders`: the worker threads that claim and send;
- `message`: what a message says, and its signed, expiring one-tap link (`links`);
- `channels`: how a target is reached (Apprise URLs; SMS and voice through a phone provider).
"""
