"""Errors a user can fix: bad configs, bad input files, missing prerequisites.

The CLI prints their message (which names the file, row, column or field) without a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Base of errors caused by input the user can correct."""


class ContractError(UserError):
    """Input data break a feed's contract; nothing was written."""


class MissingDataError(UserError):
    """A step needs data that an earlier step has not produced yet."""
