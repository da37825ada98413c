"""Restoration time of unplanned outages (`gridml train restoration`)."""
