"""Patrol work beyond alarms (issue 18): rounds at QR/NFC checkpoints, and field reports from the patrol's phones.

Above the alerting layer: a missed checkpoint, an overdue round or a field report is an alert like any other,
raised through the rule engine's lifecycle, routing, escalation and notifications.
"""
