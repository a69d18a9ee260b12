"""The release: the steward's review of an output request, and the signed release.

A researcher asks for outputs with :func:`mikrodata.disclosure.request_release`; a data
steward of the project (never the researcher who asked; two stewards where the rules say
``reviewers: 2``) reviews them with ``mikrodata release list|show|approve|reject``.
Approval re-checks every output under the approved rules (:mod:`.recheck`), refuses
outputs of a dummy extract and differencing across releases (:mod:`.differencing`), and
writes the release folder with a signed manifest (:mod:`.manifest`); ``mikrodata release
verify`` checks a release folder offline. Every step is in the audit log.
See docs/disclosure.md, "The release".
"""

from mikrodata.toolkit.release.manifest import ReleaseCheck, verify_release
from mikrodata.toolkit.release.review import (
    OutputState,
    approve_release,
    outputs,
    reject_release,
    releases_root,
    trail_root,
    verify_recorded,
)

__all__ = [
    "OutputState",
    "ReleaseCheck",
    "approve_release",
    "outputs",
    "reject_release",
    "releases_root",
    "trail_root",
    "verify_recorded",
    "verify_release",
]
