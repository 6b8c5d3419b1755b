//! The audit trail: one append-only event per request whatever its outcome, with the
//! seed's fields plus the policy decision and error code. User ids are keyed hashes;
//! message text is never part of an event.

mod event;

pub use event::{AuditEvent, AuditQuery, EventStatus, UserHasher};
