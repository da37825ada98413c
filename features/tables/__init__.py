"""Feature tables: pure functions from feeds to the Parquet sources of the Feast offline store.

Every row carries `event_timestamp`, the moment its values became known (the end of the hour
or day they summarise), so a point-in-time join never sees a value before it existed.
"""
