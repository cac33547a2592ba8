"""
Whose file a destination path holds, and what a copy may do there: the placement rule, without I/O.

A path belongs to one object. :class:`.copier.Copier` gathers the facts about a path (is a file there, whose
copy do this run's and earlier manifests or the file's sidecar say it is, does it hold this object's exact
bytes) and :func:`decide` says what the copy does:

- :class:`Free`: nothing is there; write (publishing only if the name is still free then);
- :class:`Skip`: this object's verified copy is there; keep it (the evidence is in the record);
- :class:`Replace`: this object's own copy is there but damaged (or ``overwrite`` asks for a new one);
- :class:`Beside`: another object's copy, or a file of unknown origin whose bytes are not this object's: leave
  it alone and write beside it (``<stem>~<id>.<ext>``), saying why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Facts:
    """
    What is known about the file at a path, for one object.

    :param present: a file is at the path.
    :param owner: the id of the object whose copy records (manifests) or its sidecar say the file is, if any.
    :param verified: the file holds this object's exact bytes (checked as :func:`worth_verifying` says).
    """

    present: bool
    owner: str | None = None
    verified: bool = False


@dataclass(frozen=True)
class Free:
    """Nothing is at the path: write the copy there."""


@dataclass(frozen=True)
class Skip:
    """This object's verified copy is at the path: keep it."""


@dataclass(frozen=True)
class Replace:
    """This object's own copy is at the path but must be written again (damaged, or ``overwrite``)."""


@dataclass(frozen=True)
class Beside:
    """
    The path holds another object's copy or a foreign file: write beside it.

    :param reason: why, in the user's terms (the record's note).
    """

    reason: str


Decision = Free | Skip | Replace | Beside


def worth_verifying(owner: str | None, object_id: str, *, has_md5: bool) -> bool:
    """
    Whether to check the file's bytes against the object: always, except for a file that records give to
    another object when 8x8 gives no plain MD5 for this one (its bytes could then never prove it is this
    object's copy).
    """
    return owner in (None, object_id) or has_md5


def decide(facts: Facts, object_id: str, *, path: str, overwrite: bool = False) -> Decision:
    """
    What a copy of ``object_id`` does at ``path`` (see the module docs).

    The bytes are the strongest evidence: a file records give to another object but that holds this object's
    exact bytes is this object's copy (kept, even with ``overwrite``: it may be the other object's too). A file
    of unknown origin is replaced only when it is this object's verified copy and ``overwrite`` is on.

    :param facts: what is known about the file at the path.
    :param object_id: the object being copied.
    :param path: the path (for the reason of :class:`Beside`).
    :param overwrite: write a new copy even over this object's verified one.
    """
    if not facts.present:
        return Free()
    if facts.owner is not None and facts.owner != object_id:
        return Skip() if facts.verified else Beside(f"{path} holds the copy of object {facts.owner}")
    if facts.verified and not overwrite:
        return Skip()
    if facts.owner == object_id or facts.verified:
        return Replace()
    return Beside(f"{path} holds a file of unknown origin whose bytes are not this object's")
