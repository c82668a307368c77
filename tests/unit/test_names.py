"""Display names are cleaned to one line of printable text."""

from __future__ import annotations

import pytest

from subscribers.errors import InvalidPreference
from subscribers.names import clean_name

INJECTION = "Mal\r\nBcc: v@example.net"


def test_clean_name_collapses_whitespace_and_refuses_control_characters() -> None:
    assert clean_name(INJECTION) == "Mal Bcc: v@example.net"
    assert clean_name("  Ada\t\tLovelace \n") == "Ada Lovelace"
    assert clean_name("Chloé Dubois") == "Chloé Dubois"
    with pytest.raises(InvalidPreference, match="from name must not contain control"):
        clean_name("Evil\x00name", field="from name")
    with pytest.raises(InvalidPreference, match="name is longer than 200"):
        clean_name("x" * 201)
