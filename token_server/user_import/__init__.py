"""``users import``: bring existing users into CometChat, resumably (see the README's
"Migrating existing users"). ``rows`` reads and checks the file, ``journal`` records each
row's outcome, ``pacing`` keeps under the per-minute limit, ``runner`` sends, ``report``
summarises."""

from .journal import Journal
from .rows import BadRow, InputError, Row, read_rows
from .runner import Importer, Summary

__all__ = ["BadRow", "Importer", "InputError", "Journal", "Row", "Summary", "read_rows"]
