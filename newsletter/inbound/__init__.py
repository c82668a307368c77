"""Incoming bounce and complaint events: provider webhooks (Amazon SES through SNS, Postmark,
SendGrid, Mailgun) and ARF complaint reports (RFC 5965), each authenticated as documented and
applied through the same bounce and complaint handling as DSNs.

``verify`` (pure: signatures), ``parse`` (pure: payloads and reports to ``ProviderEvent``),
``apply`` (the database side).
"""
