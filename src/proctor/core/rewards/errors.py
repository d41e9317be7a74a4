"""Reward-domain failures. Each surface renders them in its own envelope."""

from __future__ import annotations

from proctor.errors import Conflict, NotFound, Unavailable, ValidationFailed


class EpochNotFound(NotFound):
    code = "EPOCH_NOT_FOUND"
    default_message = "not found"


class LeafNotFound(NotFound):
    """The hotkey has no leaf in the epoch (Pool clients skip such epochs on a 404)."""

    code = "LEAF_NOT_FOUND"
    default_message = "not found"


class EpochExists(Conflict):
    code = "EPOCH_EXISTS"
    default_message = "This epoch is already published; a published epoch never changes"


class EpochOutOfOrder(Conflict):
    code = "EPOCH_OUT_OF_ORDER"
    default_message = "Epoch numbers must increase: amounts are cumulative over the previous epoch"


class NothingToPublish(Conflict):
    code = "NOTHING_TO_PUBLISH"
    default_message = "No hotkey has a positive score: nothing to publish"


class InvalidScores(ValidationFailed):
    code = "INVALID_SCORES"
    default_message = "Invalid score snapshot"


class ScoresUnavailable(Unavailable):
    code = "SCORES_UNAVAILABLE"
    default_message = "The score snapshot could not be read"


class InvalidBudget(ValidationFailed):
    code = "INVALID_BUDGET"
    default_message = "Invalid budget"


class InvalidEpochNumber(ValidationFailed):
    code = "INVALID_EPOCH_NUMBER"
    default_message = "Epoch numbers are between 0 and 2**63 - 1"


class InvalidRecipient(ValidationFailed):
    code = "INVALID_RECIPIENT"
    default_message = "recipient_coldkey must be a valid SS58 address"


class StaleRecipientUpdate(Conflict):
    code = "STALE_UPDATE"
    default_message = "A newer recipient update is already applied; sign a fresh one"


class InvalidClaim(ValidationFailed):
    code = "INVALID_CLAIM"
    default_message = "Malformed claim"


class InvalidProof(ValidationFailed):
    code = "INVALID_PROOF"
    default_message = "invalid proof: the leaf does not verify against the epoch root"


class AlreadyClaimed(Conflict):
    code = "ALREADY_CLAIMED"
    default_message = "already claimed"
