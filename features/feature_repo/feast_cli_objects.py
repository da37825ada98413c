"""Feast CLI entry point: `cd features/feature_repo && feast apply` registers the same objects
as `gridml features apply` (set GRIDML_WORKSPACE to the workspace folder first)."""

from gridml.features.store.definitions import build_definitions
from gridml.workspace import Workspace

_ws = Workspace.from_env()
_defs = build_definitions(_ws.offline, _ws.feeds)
globals().update({obj.name: obj for obj in _defs.objects()})
