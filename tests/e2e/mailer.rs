//! The mailer: the send state machine in-process with a scripted sender (every outcome and crash window), the SES
//! v1 fallback against moto, and the whole loop on moto with both real binaries: send to a bounce simulator
//! address -> moto's canned bounce -> SNS -> the suppressor -> a later event to a bounced recipient is skipped;
//! redelivered events and feedback change nothing.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use mailer::{
    Mailer, SesApi, SesSender,
    compose::Templates,
    ses::{Outgoing, SendError, Sender},
};
use sqlx::PgPool;
use switchyard_consumer::{MessageHandler, Outcome};
use switchyard_events::{CloudEvent, identity::UserRegistered, tasks::TaskCompleted};
use switchyard_mail::{EmailAddress, SuppressionReason, suppression};
use switchyard_tests::{
    World, eventually,
    mail::{feedback_envelopes_for_moto, incoming, mail_database, moto_sent_from, ses_identity},
    send_events, spawn, worker_env, workspace_bin,
};
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(60);

/// Answers each send with the next scripted result (success when the script is empty) and counts the sends.
#[derive(Clone, Default)]
struct ScriptedSender {
    script: Arc<Mutex<VecDeque<Result<String, SendError>>>>,
    sent: Arc<Mutex<Vec<(String, String)>>>,
}

impl ScriptedSender {
    fn then(&self, result: Result<String, SendError>) {
        self.script.lock().unwrap().push_back(result);
    }
    fn calls(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

impl Sender for ScriptedSender {
    fn api(&self) -> SesApi {
        SesApi::V2
    }
    async fn send(&self, o: &Outgoing<'_>) -> Result<String, SendError> {
        self.sent
            .lock()
            .unwrap()
            .push((o.event_id.clone(), o.email.recipient.to_string()));
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Ok(format!("ses-{}", Uuid::now_v7())))
    }
}

fn welcome(email: &str) -> CloudEvent {
    CloudEvent::new(&UserRegistered {
        user_id: Uuid::now_v7(),
        email: email.into(),
        display_name: "Test User".into(),
    })
    .unwrap()
}

fn task_done(email: &str) -> CloudEvent {
    CloudEvent::new(&TaskCompleted {
        task_id: Uuid::now_v7(),
        owner_id: Uuid::now_v7(),
        owner_email: email.into(),
        title: "Write the tests".into(),
    })
    .unwrap()
}

/// (status, attempts, ses_message_id, detail) of an event's row.
async fn row(
    pool: &PgPool,
    event: &CloudEvent,
) -> Option<(String, i32, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT status, attempts, ses_message_id, detail FROM outbound_messages WHERE event_id = $1",
    )
    .bind(event.id)
    .fetch_optional(pool)
    .await
    .unwrap()
}

async fn status(pool: &PgPool, event: &CloudEvent) -> Option<String> {
    row(pool, event).await.map(|r| r.0)
}

#[tokio::test]
async fn the_send_state_machine_sends_each_event_once_whatever_happens() {
    let world = World::new().await;
    let pool = mail_database(&world, "mail").await;
    let sender = ScriptedSender::default();
    let mailer = Mailer::new(
        pool.clone(),
        sender.clone(),
        Templates::load().unwrap(),
        LEASE,
    );
    let deliver = |event: &CloudEvent| {
        let message = incoming(&event.to_json());
        let mailer = &mailer;
        async move { mailer.handle(&message).await }
    };

    // Sent once; a redelivery finds `sent`.
    let first = welcome("First@Example.com");
    assert_eq!(deliver(&first).await, Outcome::Done);
    assert_eq!(deliver(&first).await, Outcome::Done);
    assert_eq!(sender.calls(), 1);
    let (st, attempts, ses_id, _) = row(&pool, &first).await.unwrap();
    assert_eq!((st.as_str(), attempts), ("sent", 1));
    assert!(ses_id.unwrap().starts_with("ses-"));
    let recipient: String =
        sqlx::query_scalar("SELECT recipient FROM outbound_messages WHERE event_id = $1")
            .bind(first.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(recipient, "first@example.com");

    // Suppressed recipient: skipped, SES never called.
    let mut conn = pool.acquire().await.unwrap();
    let banned = EmailAddress::parse("banned@example.com").unwrap();
    suppression::suppress(&mut conn, &banned, SuppressionReason::Complaint, None)
        .await
        .unwrap();
    drop(conn);
    let skipped = task_done("Banned <BANNED@example.com>");
    assert_eq!(deliver(&skipped).await, Outcome::Done);
    let (st, _, _, detail) = row(&pool, &skipped).await.unwrap();
    assert_eq!(st, "skipped");
    assert!(detail.unwrap().contains("complaint"));
    assert_eq!(sender.calls(), 1);

    // Throttled: back to pending and retried; the retry sends.
    let throttled = welcome("slow@example.com");
    sender.then(Err(SendError::NotSent("TooManyRequestsException".into())));
    assert!(matches!(deliver(&throttled).await, Outcome::Retry { .. }));
    assert_eq!(status(&pool, &throttled).await.as_deref(), Some("pending"));
    assert_eq!(deliver(&throttled).await, Outcome::Done);
    let (st, attempts, _, _) = row(&pool, &throttled).await.unwrap();
    assert_eq!((st.as_str(), attempts), ("sent", 2));
    assert_eq!(sender.calls(), 3);

    // Rejected: failed, not retried.
    let rejected = welcome("rejected@example.com");
    sender.then(Err(SendError::Rejected("MessageRejected".into())));
    assert_eq!(deliver(&rejected).await, Outcome::Done);
    assert_eq!(deliver(&rejected).await, Outcome::Done);
    assert_eq!(status(&pool, &rejected).await.as_deref(), Some("failed"));
    assert_eq!(sender.calls(), 4);

    // Outcome unknown (timeout): unknown, never resent.
    let lost = welcome("lost@example.com");
    sender.then(Err(SendError::Unknown("operation timed out".into())));
    assert_eq!(deliver(&lost).await, Outcome::Done);
    assert_eq!(deliver(&lost).await, Outcome::Done);
    assert_eq!(status(&pool, &lost).await.as_deref(), Some("unknown"));
    assert_eq!(sender.calls(), 5);

    // Crash windows 2/3: a `sending` claim older than the lease -> unknown, not resent.
    let crashed = welcome("crashed@example.com");
    let claim = |event: &CloudEvent, age: &str| {
        sqlx::query(
            "INSERT INTO outbound_messages (event_id, event_type, recipient, template, status, attempts, sending_since) \
             VALUES ($1, $2, $3, 'welcome', 'sending', 1, now() - $4::text::interval)",
        )
        .bind(event.id)
        .bind(event.event_type.clone())
        .bind(event.data["email"].as_str().unwrap().to_owned())
        .bind(age.to_owned())
        .execute(&pool)
    };
    claim(&crashed, "10 minutes").await.unwrap();
    assert_eq!(deliver(&crashed).await, Outcome::Done);
    let (st, _, _, detail) = row(&pool, &crashed).await.unwrap();
    assert_eq!(st, "unknown");
    assert!(detail.unwrap().contains("not resent"));
    // ... and a young claim: someone is sending right now, look again after the lease.
    let busy = welcome("busy@example.com");
    claim(&busy, "1 second").await.unwrap();
    match deliver(&busy).await {
        Outcome::Retry {
            after: Some(after), ..
        } => assert!(after <= LEASE && after > Duration::from_secs(50)),
        other => panic!("expected a retry after the lease, got {other:?}"),
    }
    assert_eq!(status(&pool, &busy).await.as_deref(), Some("sending"));
    assert_eq!(sender.calls(), 5, "no crash window leads to a second send");

    // Unreadable events are dead-lettered; events the mailer has no email for are acknowledged.
    assert!(matches!(
        mailer.handle(&incoming("{nope")).await,
        Outcome::Reject { .. }
    ));
    let bad_address = welcome("not an address");
    assert!(matches!(
        deliver(&bad_address).await,
        Outcome::Reject { .. }
    ));
    let other = CloudEvent::untyped(
        "switchyard.tasks.task.created.v1",
        "/t",
        None,
        serde_json::json!({}),
    );
    assert_eq!(deliver(&other).await, Outcome::Done);
    assert_eq!(row(&pool, &other).await, None);
    world.finish().await;
}

#[tokio::test]
async fn the_ses_v1_fallback_sends_through_moto() {
    let world = World::new().await;
    let pool = mail_database(&world, "mail").await;
    let identity = ses_identity(&world).await;
    let sender = SesSender::new(&world.aws, SesApi::V1, identity.from.clone(), None);
    let mailer = Mailer::new(pool.clone(), sender, Templates::load().unwrap(), LEASE);
    let event = welcome("someone@example.com");
    assert_eq!(
        mailer.handle(&incoming(&event.to_json())).await,
        Outcome::Done
    );
    let (st, _, ses_id, _) = row(&pool, &event).await.unwrap();
    assert_eq!(st, "sent");
    assert!(ses_id.is_some());
    let sent = moto_sent_from(&identity.domain).await;
    assert_eq!(
        sent,
        vec![(
            vec!["someone@example.com".to_owned()],
            "Welcome to Switchyard, Test User".to_owned()
        )]
    );

    // An unverified sender is rejected by SES: failed, not retried.
    let unverified = SesSender::new(
        &world.aws,
        SesApi::V2,
        format!("x@unverified-{}.test", world.id),
        None,
    );
    let mailer = Mailer::new(pool.clone(), unverified, Templates::load().unwrap(), LEASE);
    let event = welcome("someone@example.com");
    assert_eq!(
        mailer.handle(&incoming(&event.to_json())).await,
        Outcome::Done
    );
    assert_eq!(status(&pool, &event).await.as_deref(), Some("failed"));
    world.finish().await;
}

#[tokio::test]
async fn a_bounce_suppresses_its_recipients_and_later_mail_to_them_is_skipped_not_sent() {
    let mailer_bin = workspace_bin("mailer");
    let suppressor_bin = workspace_bin("ses-suppressor");
    let world = World::new().await;
    let pool = mail_database(&world, "mail").await;
    let identity = ses_identity(&world).await;
    feedback_envelopes_for_moto(&world).await;
    let mailer_env = worker_env(&world, "mailer", "mail");
    let suppressor_env = worker_env(&world, "ses-suppressor", "mail");
    let mut suppressor = spawn(&suppressor_bin, &suppressor_env, &[]);
    let mut mailer = spawn(
        &mailer_bin,
        &mailer_env,
        &[
            ("SES_FROM_ADDRESS", identity.from.as_str()),
            ("SES_CONFIGURATION_SET", "switchyard-test"),
            ("SES_API", "v2"),
        ],
    );
    let mailer_queue = world.queue("mailer").to_owned();
    let suppressor_queue = world.queue("ses-suppressor").to_owned();

    // 1. Mail to the bounce simulator: sent; moto publishes its canned bounce to the identity's topic.
    let bounced = welcome("bounce@simulator.amazonses.com");
    send_events(&world, &mailer_queue, std::slice::from_ref(&bounced)).await;
    eventually("the welcome mail sent", Duration::from_secs(30), || async {
        (status(&pool, &bounced).await.as_deref() == Some("sent")).then_some(())
    })
    .await;

    // 2. The suppressor suppresses the recipients that feedback names (moto's canned bounce names these two),
    //    not the address the mail went to.
    let suppressed = eventually(
        "the bounced recipients suppressed",
        Duration::from_secs(30),
        || async {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT address, reason FROM suppressions ORDER BY address")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            (rows.len() == 2).then_some(rows)
        },
    )
    .await;
    assert_eq!(
        suppressed,
        vec![
            ("recipient1@example.com".to_owned(), "bounce".to_owned()),
            ("recipient2@example.com".to_owned(), "bounce".to_owned()),
        ]
    );

    // 3. A later event to one of them is skipped, not sent.
    let later = task_done("Recipient1@Example.com");
    send_events(&world, &mailer_queue, std::slice::from_ref(&later)).await;
    eventually(
        "the later mail skipped",
        Duration::from_secs(30),
        || async { (status(&pool, &later).await.as_deref() == Some("skipped")).then_some(()) },
    )
    .await;

    // 4. Redelivered events never send again.
    send_events(
        &world,
        &mailer_queue,
        &[bounced.clone(), later.clone(), bounced.clone()],
    )
    .await;
    // 5. Another send to a bounce address: moto publishes the same canned feedback (same feedbackId) again,
    //    i.e. redelivered feedback, which must change nothing.
    let again = welcome("bounce+again@simulator.amazonses.com");
    send_events(&world, &mailer_queue, std::slice::from_ref(&again)).await;
    eventually(
        "the second bounce mail sent",
        Duration::from_secs(30),
        || async { (status(&pool, &again).await.as_deref() == Some("sent")).then_some(()) },
    )
    .await;
    eventually("both queues drained", Duration::from_secs(30), || async {
        (world.depth(&mailer_queue).await == 0 && world.depth(&suppressor_queue).await == 0)
            .then_some(())
    })
    .await;

    let sent = moto_sent_from(&identity.domain).await;
    assert_eq!(
        sent.iter().map(|(to, _)| to.join(",")).collect::<Vec<_>>(),
        [
            "bounce@simulator.amazonses.com",
            "bounce+again@simulator.amazonses.com"
        ],
        "one email per event, none to the suppressed recipient"
    );
    let outbound: Vec<(String, String)> =
        sqlx::query_as("SELECT recipient, status FROM outbound_messages ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        outbound,
        vec![
            (
                "bounce@simulator.amazonses.com".to_owned(),
                "sent".to_owned()
            ),
            ("recipient1@example.com".to_owned(), "skipped".to_owned()),
            (
                "bounce+again@simulator.amazonses.com".to_owned(),
                "sent".to_owned()
            ),
        ]
    );
    let decisions: i64 = sqlx::query_scalar("SELECT count(*) FROM feedback_decisions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(decisions, 2, "the repeated feedback made no new decisions");
    for child in [&mut mailer, &mut suppressor] {
        assert!(child.try_wait().unwrap().is_none(), "workers still running");
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    world.finish().await;
}
