"""What comes back from the world of mail: bounces, complaints and mailto unsubscribes.

``dsn`` (pure: RFC 3464 and common non-standard bounces), ``bounces`` (apply a bounce: suppress,
mark the delivery), ``mailto_unsubscribes``, ``mailboxes`` (the scheduler's Maildirs, each message
applied once); provider events: ``verify`` (pure: SES/SNS, Postmark, SendGrid, Mailgun
signatures), ``parse`` (pure: payloads and ARF reports, RFC 5965, to ``ProviderEvent``) and
``apply`` (the database side, through the same handling as DSNs).
"""
