//! `yard`, the operator CLI, as a library so tests drive the same code:
//!
//! - [`provision`]: creates the topology (topics, queues, DLQs with redrive, queue policies, subscriptions with
//!   filter policies) on whatever endpoint the AWS config points at, idempotently, and reports what changed.
//! - [`dlq`]: lists DLQ depths, peeks at dead letters and redrives them to their source queue.
//! - [`events`]: lists archived events and replays them into one consumer's queue.
//! - [`status`]: per queue depth, in flight, delayed and DLQ depth; per publishing service the outbox backlog and lag.
//! - [`cli`]: argument parsing and dispatch for `main`.

pub mod cli;
pub mod dlq;
pub mod events;
pub mod provision;
pub mod status;
