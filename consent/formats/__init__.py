"""The artifact formats, one module each, imported by their writer (`fl/`) and their reader
(`chain/` for the audit, `fl/` for the roles) alike, so a format is defined exactly once.

Every document carries `"format": "consentfl.<name>/<version>"` and an `extensions` object.
A reader accepts every version it knows (`Family.parse`), refuses others with
`UnknownFormatError`, and ignores keys and extensions it does not know: a newer writer may add
what an older auditor need not understand, without breaking it.
"""

from consent.formats._document import (
    Family,
    FormatError,
    UnknownFormatError,
    canonical_json,
    extensions_of,
)

__all__ = ["Family", "FormatError", "UnknownFormatError", "canonical_json", "extensions_of"]
