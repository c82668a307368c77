"""Transport: the Mailer seam, SMTP connections and pools, rate limits, replies, DKIM, VERP."""
