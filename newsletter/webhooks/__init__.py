"""Outgoing webhooks: signed JSON notifications of subscriber, delivery and run events.

``signing`` (pure: HMAC signatures, back-off), ``endpoints`` (add, list, remove), ``events``
(record what happened once, from the source-of-truth tables, and queue it per endpoint), and
``sender`` (drain the durable queue over HTTP with retries).
"""
