//! Helpers for the mail tests (`e2e/mailer.rs`, `e2e/suppressor.rs`): the SES fixtures in `tests/fixtures/ses`, the
//! shared `mail` schema, SES identities with a feedback topic on the emulator. What SES sent and the feedback it
//! gives differ between emulators: see [`crate::emulator`].

use std::path::PathBuf;

use sqlx::PgPool;
use switchyard_consumer::Incoming;
use switchyard_consumer::sqs::Message;

use crate::World;

/// `tests/fixtures/ses` in this repository (see its README): found from this crate's manifest directory, never
/// outside the repository.
pub fn ses_fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/ses")
}

/// The text of one fixture file.
pub fn ses_fixture(name: &str) -> String {
    let path = ses_fixtures_dir().join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading SES fixture {}: {e}", path.display()))
}

/// Every fixture's file name (`*.json`, `*.txt`), sorted.
pub fn ses_fixture_names() -> Vec<String> {
    let dir = ses_fixtures_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing SES fixtures in {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") || n.ends_with(".txt"))
        .collect();
    names.sort();
    names
}

/// A fresh `mail` schema for this world, migrated as the mail binaries migrate it. `component` tells several
/// apart (`mail`, `mail2`, ...); the binaries get `DATABASE_SCHEMA=world.schema_name(component)`.
pub async fn mail_database(world: &World, component: &str) -> PgPool {
    world
        .database(
            component,
            &[&switchyard_consumer::MIGRATOR, &switchyard_mail::MIGRATOR],
        )
        .await
}

/// An SQS message with `body`, as the runtime hands it to a handler (first receive).
pub fn incoming(body: &str) -> Incoming {
    Incoming::from_sqs(Message {
        message_id: crate::unique(),
        receipt_handle: "test-receipt".into(),
        body: body.into(),
        ..Message::default()
    })
}

/// A sending identity of this world: the domain `<world id>.mail.test` verified on the emulator, its Bounce and
/// Complaint notifications going to the world's `ses-feedback` topic. moto keys notification topics by the
/// sender's domain, so each world's feedback stays its own.
pub struct SesIdentity {
    pub domain: String,
    pub from: String,
}

pub async fn ses_identity(world: &World) -> SesIdentity {
    let ses = aws_sdk_ses::Client::new(&world.aws);
    let domain = format!("t-{}.mail.test", world.id);
    ses.verify_domain_identity()
        .domain(&domain)
        .send()
        .await
        .expect("VerifyDomainIdentity");
    for kind in [
        aws_sdk_ses::types::NotificationType::Bounce,
        aws_sdk_ses::types::NotificationType::Complaint,
    ] {
        ses.set_identity_notification_topic()
            .identity(&domain)
            .notification_type(kind)
            .sns_topic(world.topic("ses-feedback"))
            .send()
            .await
            .expect("SetIdentityNotificationTopic");
    }
    SesIdentity {
        from: format!("noreply@{domain}"),
        domain,
    }
}

/// Turns raw message delivery on or off for the world's `ses-feedback` -> `ses-suppressor` subscription (see
/// [`Emulator::prepare_feedback`](crate::emulator::Emulator::prepare_feedback)).
pub async fn raw_feedback_delivery(world: &World, raw: bool) {
    let queue_arn = world
        .sqs
        .get_queue_attributes()
        .queue_url(world.queue("ses-suppressor"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue arn")
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("QueueArn");
    let subs = world
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(world.topic("ses-feedback"))
        .send()
        .await
        .expect("subscriptions");
    let sub = subs
        .subscriptions()
        .iter()
        .find(|s| s.endpoint() == Some(queue_arn.as_str()))
        .and_then(|s| s.subscription_arn())
        .expect("ses-feedback -> ses-suppressor subscription")
        .to_owned();
    world
        .sns
        .set_subscription_attributes()
        .subscription_arn(sub)
        .attribute_name("RawMessageDelivery")
        .attribute_value(raw.to_string())
        .send()
        .await
        .expect("SetSubscriptionAttributes");
}
