"""Small helpers with no home in one layer: log redaction, host names, dict merging.

Everything here depends only on the standard library, so any layer may import it.
"""
