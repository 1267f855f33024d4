"""`vpclab import tencentcloud`: a topology from saved describe calls, or read live. Its own
module (not `files`) because it loads the Tencent Cloud SDK: only this command pays for that."""
from __future__ import annotations

from typing import List, Optional

from ..topology.importers.tencentcloud import Result, from_dirs, from_pages
from ..topology.importers.tencentcloud import live


def import_snapshot(dirs: List[str], region: Optional[str] = None, lab: Optional[str] = None) -> Result:
    """A topology from the folders of saved describe calls (one per account), with notes on what it left out."""
    return from_dirs(dirs, region, lab)


def import_live(region: str, lab: Optional[str] = None) -> Result:
    """The same, read through the SDK with the credentials of the environment."""
    return from_pages(live.fetch(region), ["live"], lab or "live", f"the API ({region})")
