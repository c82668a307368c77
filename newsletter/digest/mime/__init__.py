"""MIME body templates in either transfer encoding (quoted-printable, base64), filled per
recipient as bytes: message building, no I/O."""
