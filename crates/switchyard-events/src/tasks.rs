//! Events published by the tasks service on the `task-events` topic. Each carries what its consumers need
//! (owner, owner's email for notifications, title) so no consumer has to call back into the tasks service.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainEvent;

const SOURCE: &str = "/switchyard/tasks";

macro_rules! task_subject {
    () => {
        fn subject(&self) -> Option<String> {
            Some(self.task_id.to_string())
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCreated {
    pub task_id: Uuid,
    pub owner_id: Uuid,
    pub owner_email: String,
    pub title: String,
}

impl DomainEvent for TaskCreated {
    const TYPE: &'static str = "switchyard.tasks.task.created.v1";
    const SOURCE: &'static str = SOURCE;
    task_subject!();
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskUpdated {
    pub task_id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub done: bool,
    pub version: i64,
}

impl DomainEvent for TaskUpdated {
    const TYPE: &'static str = "switchyard.tasks.task.updated.v1";
    const SOURCE: &'static str = SOURCE;
    task_subject!();
}

/// `done` turned true. The mailer notifies the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCompleted {
    pub task_id: Uuid,
    pub owner_id: Uuid,
    pub owner_email: String,
    pub title: String,
}

impl DomainEvent for TaskCompleted {
    const TYPE: &'static str = "switchyard.tasks.task.completed.v1";
    const SOURCE: &'static str = SOURCE;
    task_subject!();
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDeleted {
    pub task_id: Uuid,
    pub owner_id: Uuid,
}

impl DomainEvent for TaskDeleted {
    const TYPE: &'static str = "switchyard.tasks.task.deleted.v1";
    const SOURCE: &'static str = SOURCE;
    task_subject!();
}
