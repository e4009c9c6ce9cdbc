//! The mailer: the send state machine in-process with a scripted sender (every outcome and crash window), the SES
//! v1 fallback against the emulator, and the whole loop with both real binaries: send to a bounce simulator
//! address -> the bounce feedback (moto's canned bounce; on LocalStack, which produces none, the notification SES
//! would publish, injected by the test) -> SNS -> the suppressor -> a later event to a bounced recipient is
//! skipped; redelivered events and feedback change nothing. What differs per emulator is in
//! `switchyard_tests::emulator`.

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
    World,
    emulator::{SentEmail, emulator, publish_bounce},
    eventually,
    mail::{incoming, mail_database, ses_identity},
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
async fn the_ses_v1_fallback_sends_through_the_emulator() {
    let emulator = emulator().await;
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
    let sent = emulator.sent_from(&identity.domain).await;
    assert_eq!(
        sent,
        vec![SentEmail {
            id: ses_id.expect("the SES message id recorded"),
            source: identity.from.clone(),
            to: vec!["someone@example.com".to_owned()],
            subject: "Welcome to Switchyard, Test User".to_owned(),
        }],
        "{} recorded the mail under the message id the mailer stored",
        emulator.name()
    );

    // An unverified sender is rejected by SES: failed, not retried (with the API the mailer uses on this emulator).
    let unverified = SesSender::new(
        &world.aws,
        emulator.ses_api(),
        format!("x@unverified-{}.test", world.id),
        None,
    );
    let mailer = Mailer::new(pool.clone(), unverified, Templates::load().unwrap(), LEASE);
    let event = welcome("someone@example.com");
    assert_eq!(
        mailer.handle(&incoming(&event.to_json())).await,
        Outcome::Done
    );
    let (st, attempts, _, detail) = row(&pool, &event).await.unwrap();
    assert_eq!(
        (st.as_str(), attempts),
        ("failed", 1),
        "rejected, not retried: {detail:?}"
    );
    world.finish().await;
}

#[tokio::test]
async fn a_bounce_suppresses_its_recipients_and_later_mail_to_them_is_skipped_not_sent() {
    let emulator = emulator().await;
    let mailer_bin = workspace_bin("mailer");
    let suppressor_bin = workspace_bin("ses-suppressor");
    let world = World::new().await;
    let pool = mail_database(&world, "mail").await;
    let identity = ses_identity(&world).await;
    emulator.prepare_feedback(&world).await;
    let mailer_env = worker_env(&world, "mailer", "mail");
    let suppressor_env = worker_env(&world, "ses-suppressor", "mail");
    let mut suppressor = spawn(&suppressor_bin, &suppressor_env, &[]);
    let mut mailer = spawn(
        &mailer_bin,
        &mailer_env,
        &[
            ("SES_FROM_ADDRESS", identity.from.as_str()),
            ("SES_CONFIGURATION_SET", "switchyard-test"),
            ("SES_API", emulator.ses_api().as_str()),
        ],
    );
    let mailer_queue = world.queue("mailer").to_owned();
    let suppressor_queue = world.queue("ses-suppressor").to_owned();
    let sent_to = |address: &'static str| {
        let (emulator, domain) = (emulator, identity.domain.clone());
        async move {
            emulator
                .sent_from(&domain)
                .await
                .into_iter()
                .find(|m| m.to == [address])
                .unwrap_or_else(|| panic!("{} recorded no mail to {address}", emulator.name()))
        }
    };

    // 1. Mail to the bounce simulator: sent, and its bounce feedback on the ses-feedback topic (moto publishes a
    //    canned bounce itself; on LocalStack the test publishes the one SES would send).
    let bounced = welcome("bounce@simulator.amazonses.com");
    send_events(&world, &mailer_queue, std::slice::from_ref(&bounced)).await;
    eventually("the welcome mail sent", Duration::from_secs(30), || async {
        (status(&pool, &bounced).await.as_deref() == Some("sent")).then_some(())
    })
    .await;
    let first = emulator
        .bounce(
            &world,
            &identity,
            &sent_to("bounce@simulator.amazonses.com").await,
        )
        .await;

    // 2. The suppressor suppresses the recipients that the feedback names (moto's canned bounce names two
    //    addresses that are not the one the mail went to).
    let expected: Vec<(String, String)> = first
        .recipients
        .iter()
        .map(|r| (r.to_lowercase(), "bounce".to_owned()))
        .collect();
    let suppressed = || async {
        sqlx::query_as::<_, (String, String)>(
            "SELECT address, reason FROM suppressions ORDER BY address",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    eventually(
        "the bounced recipients suppressed",
        Duration::from_secs(30),
        || async { (suppressed().await == expected).then_some(()) },
    )
    .await;

    // 3. A later event to one of them (spelled in another case) is skipped, not sent.
    let target = first.recipients[0].to_uppercase();
    let later = task_done(&target);
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
    // 5. Another send to a bounce address and its feedback (moto: the same canned bounce, same ids, again; the
    //    SES of AWS and so LocalStack's injection: a new bounce of the new address), then the first feedback
    //    delivered a second time (SNS delivers at least once): neither repeat makes a new decision.
    let again = welcome("bounce+again@simulator.amazonses.com");
    send_events(&world, &mailer_queue, std::slice::from_ref(&again)).await;
    eventually(
        "the second bounce mail sent",
        Duration::from_secs(30),
        || async { (status(&pool, &again).await.as_deref() == Some("sent")).then_some(()) },
    )
    .await;
    let second = emulator
        .bounce(
            &world,
            &identity,
            &sent_to("bounce+again@simulator.amazonses.com").await,
        )
        .await;
    publish_bounce(&world, &identity, &first).await;

    // Every (feedback, recipient) pair decided exactly once.
    let mut keys: Vec<(String, String)> = [&first, &second]
        .iter()
        .flat_map(|b| {
            b.recipients
                .iter()
                .map(|r| (b.feedback_key(), r.to_lowercase()))
        })
        .collect();
    keys.sort();
    keys.dedup();
    let decisions = || async {
        sqlx::query_as::<_, (String, String)>(
            "SELECT feedback_key, address FROM feedback_decisions ORDER BY feedback_key, address",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    eventually(
        "each feedback decided once",
        Duration::from_secs(30),
        || async { (decisions().await == keys).then_some(()) },
    )
    .await;
    eventually("both queues drained", Duration::from_secs(30), || async {
        (world.depth(&mailer_queue).await == 0 && world.depth(&suppressor_queue).await == 0)
            .then_some(())
    })
    .await;
    assert_eq!(
        decisions().await,
        keys,
        "the repeated feedback made no new decisions"
    );
    let mut all_bounced: Vec<(String, String)> = keys
        .iter()
        .map(|(_, address)| (address.clone(), "bounce".to_owned()))
        .collect();
    all_bounced.sort();
    all_bounced.dedup();
    assert_eq!(suppressed().await, all_bounced);

    let sent = emulator.sent_from(&identity.domain).await;
    assert_eq!(
        sent.iter().map(|m| m.to.join(",")).collect::<Vec<_>>(),
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
            (target.to_lowercase(), "skipped".to_owned()),
            (
                "bounce+again@simulator.amazonses.com".to_owned(),
                "sent".to_owned()
            ),
        ]
    );
    for child in [&mut mailer, &mut suppressor] {
        assert!(child.try_wait().unwrap().is_none(), "workers still running");
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    world.finish().await;
}
