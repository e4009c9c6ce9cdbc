//! The ses-suppressor: every SES fixture in `tests/fixtures/ses` and every other form of feedback, each with its
//! expected decision (handler in-process on a real `mail` schema), then the real binary on the real queue: SNS ->
//! queue -> suppression, and malformed feedback (bad JSON, text that is not SES's) into the DLQ while the worker keeps
//! going.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use ses_suppressor::{
    AccountSuppressionList, SesAccountSuppression, Settings, Suppressor, SyncError,
};
use sqlx::PgPool;
use switchyard_consumer::{MessageHandler, Outcome};
use switchyard_mail::{EmailAddress, SuppressionReason};
use switchyard_tests::{
    World, eventually,
    mail::{incoming, mail_database, ses_fixture, ses_fixture_names},
    spawn, worker_env, workspace_bin,
};

type Plain = Suppressor<SesAccountSuppression>;

/// A fixture's name, its decisions (address, decision) and the suppressions (address, reason) it leaves.
type Expected = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

fn plain(pool: &PgPool) -> Plain {
    Suppressor::new(pool.clone(), Settings::default(), None)
}

async fn decisions(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT address, decision FROM feedback_decisions ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn suppressions(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT address, reason FROM suppressions ORDER BY address")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn every_ses_fixture_gets_its_expected_decision_once() {
    // fixture -> (decisions, suppressions). A new fixture without an entry here fails the test.
    let expected: &[Expected] = &[
        (
            "bounce-permanent.json",
            &[("jane@example.com", "suppressed")],
            &[("jane@example.com", "bounce")],
        ),
        (
            "bounce-permanent-no-dsn.json",
            &[
                ("jane@example.com", "suppressed"),
                ("richard@example.com", "suppressed"),
            ],
            &[
                ("jane@example.com", "bounce"),
                ("richard@example.com", "bounce"),
            ],
        ),
        (
            "bounce-permanent-suppressed.json",
            &[("gone@example.com", "suppressed")],
            &[("gone@example.com", "bounce")],
        ),
        (
            "bounce-permanent-on-account-suppression-list-event.json",
            &[("listed@example.com", "suppressed")],
            &[("listed@example.com", "bounce")],
        ),
        (
            "bounce-transient-event.json",
            &[("full@example.com", "counted")],
            &[],
        ),
        (
            "bounce-transient-notification.json",
            &[("later@example.com", "counted")],
            &[],
        ),
        (
            "bounce-undetermined.json",
            &[("unsure@example.com", "recorded")],
            &[],
        ),
        (
            "complaint.json",
            &[("richard@example.com", "suppressed")],
            &[("richard@example.com", "complaint")],
        ),
        (
            "complaint-no-feedback-report.json",
            &[("mary@example.com", "suppressed")],
            &[("mary@example.com", "complaint")],
        ),
        (
            "complaint-event.json",
            &[("recipient@example.com", "suppressed")],
            &[("recipient@example.com", "complaint")],
        ),
        ("delivery.json", &[], &[]),
        ("delivery-event.json", &[], &[]),
        ("delivery-delay-event.json", &[], &[]),
        ("subscription-succeeded.json", &[], &[]),
        ("setup-validation.txt", &[], &[]),
        (
            "sns-envelope-bounce-permanent.json",
            &[("jane@example.com", "suppressed")],
            &[("jane@example.com", "bounce")],
        ),
        (
            "sns-envelope-complaint-event.json",
            &[("recipient@example.com", "suppressed")],
            &[("recipient@example.com", "complaint")],
        ),
        ("sns-envelope-setup-validation.json", &[], &[]),
        ("sns-subscription-confirmation.json", &[], &[]),
    ];
    let names = ses_fixture_names();
    assert!(!names.is_empty(), "no SES fixtures found");
    for (name, _, _) in expected {
        assert!(
            names.iter().any(|n| n == name),
            "{name} is expected here but not in tests/fixtures/ses"
        );
    }
    let world = World::new().await;
    for (i, name) in names.iter().enumerate() {
        let (_, want_decisions, want_suppressions) = expected
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("fixture {name} has no expected decision in this test"));
        let pool = mail_database(&world, &format!("mail_{i}")).await;
        let handler = plain(&pool);
        let body = ses_fixture(name);
        assert_eq!(
            handler.handle(&incoming(&body)).await,
            Outcome::Done,
            "{name}"
        );
        assert_eq!(decisions(&pool).await, pairs(want_decisions), "{name}");
        assert_eq!(
            suppressions(&pool).await,
            pairs(want_suppressions),
            "{name}"
        );
        // Each decision keeps its reason and the SES JSON (unwrapped from an envelope).
        let stored: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT reason, coalesce(feedback->>'notificationType', feedback->>'eventType') \
             FROM feedback_decisions",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for (reason, kind) in stored {
            assert!(!reason.is_empty(), "{name}");
            assert!(
                kind.is_some(),
                "{name}: stored feedback is the SES notification"
            );
        }
        // Redelivery changes nothing.
        assert_eq!(
            handler.handle(&incoming(&body)).await,
            Outcome::Done,
            "{name}"
        );
        assert_eq!(
            decisions(&pool).await,
            pairs(want_decisions),
            "{name} redelivered"
        );
        assert_eq!(
            suppressions(&pool).await,
            pairs(want_suppressions),
            "{name} redelivered"
        );
    }
    // An enveloped and a raw body of the same feedback are one decision between them.
    let pool = mail_database(&world, "mail_both").await;
    let handler = plain(&pool);
    for name in [
        "bounce-permanent.json",
        "sns-envelope-bounce-permanent.json",
        "complaint-event.json",
        "sns-envelope-complaint-event.json",
    ] {
        assert_eq!(
            handler.handle(&incoming(&ses_fixture(name))).await,
            Outcome::Done
        );
    }
    assert_eq!(decisions(&pool).await.len(), 2);
    world.finish().await;
}

fn bounce(bounce_type: &str, feedback_id: &str, at: &str, recipients: &[&str]) -> String {
    let recipients: Vec<Value> = recipients
        .iter()
        .map(|r| json!({"emailAddress": r, "action": "failed", "status": "5.0.0"}))
        .collect();
    json!({
        "eventType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bounceSubType": "General", "bouncedRecipients": recipients,
                   "timestamp": at, "feedbackId": feedback_id},
        "mail": {"messageId": format!("m-{feedback_id}"), "timestamp": at, "source": "noreply@example.com",
                 "destination": ["someone-else@example.com"]}
    })
    .to_string()
}

#[tokio::test]
async fn every_other_form_gets_its_expected_decision() {
    let world = World::new().await;
    let pool = mail_database(&world, "mail").await;
    let handler = plain(&pool);
    let done = |body: String| {
        let handler = &handler;
        async move {
            assert_eq!(
                handler.handle(&incoming(&body)).await,
                Outcome::Done,
                "{body}"
            );
        }
    };
    let decision_of = |address: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String,)>(
                "SELECT decision FROM feedback_decisions WHERE address = $1 ORDER BY id",
            )
            .bind(address)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(d,)| d)
            .collect::<Vec<_>>()
        }
    };

    // Undetermined: recorded only.
    done(bounce(
        "Undetermined",
        "u1",
        "2026-01-01T00:00:00Z",
        &["und@example.com"],
    ))
    .await;
    assert_eq!(decision_of("und@example.com").await, ["recorded"]);

    // Transient: counted, then suppressed at the third within seven days.
    for (i, day) in ["01", "03", "05"].iter().enumerate() {
        done(bounce(
            "Transient",
            &format!("s{i}"),
            &format!("2026-01-{day}T00:00:00Z"),
            &["soft@example.com"],
        ))
        .await;
    }
    assert_eq!(
        decision_of("soft@example.com").await,
        ["counted", "counted", "suppressed"]
    );
    // ... but not when they are spread wider than the window.
    for (i, day) in ["01", "09", "17"].iter().enumerate() {
        done(bounce(
            "Transient",
            &format!("w{i}"),
            &format!("2026-01-{day}T00:00:00Z"),
            &["sparse@example.com"],
        ))
        .await;
    }
    assert_eq!(
        decision_of("sparse@example.com").await,
        ["counted", "counted", "counted"]
    );

    // Display names, case and whitespace are normalised; an unparsable recipient is skipped, not fatal.
    done(bounce(
        "Permanent",
        "p1",
        "2026-01-01T00:00:00Z",
        &["  Pat Doe <PAT@Example.COM> ", "not an address"],
    ))
    .await;
    assert_eq!(decision_of("pat@example.com").await, ["suppressed"]);

    // Complaints: suppressed, except not-spam; feedback notification form (notificationType).
    let complaint = |id: &str, address: &str, kind: Option<&str>| {
        let mut c = json!({"complainedRecipients": [{"emailAddress": address}], "feedbackId": id,
                           "timestamp": "2026-01-01T00:00:00Z"});
        if let Some(kind) = kind {
            c["complaintFeedbackType"] = json!(kind);
        }
        json!({"notificationType": "Complaint", "complaint": c, "mail": {"messageId": format!("m-{id}")}}).to_string()
    };
    done(complaint("c1", "angry@example.com", Some("abuse"))).await;
    done(complaint("c2", "happy@example.com", Some("not-spam"))).await;
    done(complaint("c3", "quiet@example.com", None)).await;
    assert_eq!(decision_of("angry@example.com").await, ["suppressed"]);
    assert_eq!(decision_of("happy@example.com").await, ["recorded"]);
    assert_eq!(decision_of("quiet@example.com").await, ["suppressed"]);

    let before = decisions(&pool).await.len();
    // Everything that names no bounced or complained recipient: acknowledged, nothing stored, in both forms.
    for (label, field) in [
        ("Delivery", "delivery"),
        ("Send", "send"),
        ("Reject", "reject"),
        ("DeliveryDelay", "deliveryDelay"),
        ("Rendering Failure", "failure"),
        ("Open", "open"),
        ("Click", "click"),
    ] {
        for type_field in ["notificationType", "eventType"] {
            done(json!({type_field: label, field: {"timestamp": "2026-01-01T00:00:00Z",
                        "recipients": ["dest@example.com"], "delayedRecipients": [{"emailAddress": "dest@example.com"}]},
                        "mail": {"messageId": "m-x", "destination": ["dest@example.com"]}}).to_string())
            .await;
        }
    }
    // SNS and SES control traffic, plain-text test messages.
    let topic = world.topic("ses-feedback").to_owned();
    done(json!({"Type": "SubscriptionConfirmation", "MessageId": "1", "TopicArn": topic, "Token": "t",
                "Message": "You have chosen to subscribe to the topic", "SubscribeURL": "https://example.invalid/"}).to_string()).await;
    done(json!({"Type": "UnsubscribeConfirmation", "MessageId": "2", "TopicArn": topic, "Message": "bye"}).to_string()).await;
    done("Successfully validated SNS topic for Amazon SES event publishing.".to_owned()).await;
    done(
        json!({"Type": "Notification", "MessageId": "3", "TopicArn": topic,
                "Message": "Successfully validated SNS topic for Amazon SES event publishing."})
        .to_string(),
    )
    .await;
    done(
        json!({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "subscribed"})
            .to_string(),
    )
    .await;
    assert_eq!(
        decisions(&pool).await.len(),
        before,
        "nothing stored for non-actionable forms"
    );
    assert!(
        !suppressions(&pool)
            .await
            .iter()
            .any(|(a, _)| a == "dest@example.com")
    );

    // Malformed or unknown: rejected (the DLQ), never stored.
    for body in [
        r#"{"notificationType": "Bounce", "bounce": "#.to_owned(),
        r#"{"hello": "world"}"#.to_owned(),
        r#"["Bounce"]"#.to_owned(),
        r#"{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent"}, "mail": {"messageId": "m"}}"#.to_owned(),
        json!({"Type": "Notification", "MessageId": "4", "TopicArn": topic, "Message": "{broken"}).to_string(),
        // Text other than SES's documented plain-text messages may be a mangled bounce: the DLQ keeps it.
        json!({"Type": "Notification", "MessageId": "6", "TopicArn": topic, "Message": "a test message"}).to_string(),
        "garbage".to_owned(),
    ] {
        assert!(matches!(handler.handle(&incoming(&body)).await, Outcome::Reject { .. }), "{body}");
    }
    assert_eq!(decisions(&pool).await.len(), before);

    // The TopicArn allowlist, when set, rejects envelopes from other topics.
    let strict = Plain::new(
        pool.clone(),
        Settings {
            topic_allowlist: ses_suppressor::TopicAllowlist::parse(&topic),
            ..Settings::default()
        },
        None,
    );
    let enveloped = |topic: &str| {
        json!({"Type": "Notification", "MessageId": "5", "TopicArn": topic,
               "Message": bounce("Permanent", "allow", "2026-01-01T00:00:00Z", &["allow@example.com"])})
        .to_string()
    };
    assert!(matches!(
        strict
            .handle(&incoming(&enveloped(
                "arn:aws:sns:us-east-1:123456789012:elsewhere"
            )))
            .await,
        Outcome::Reject { .. }
    ));
    assert_eq!(
        strict.handle(&incoming(&enveloped(&topic))).await,
        Outcome::Done
    );
    assert_eq!(decision_of("allow@example.com").await, ["suppressed"]);
    world.finish().await;
}

async fn unattributed(pool: &PgPool) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT feedback_key, recipient, coalesce(bounce_type, feedback_type) FROM unattributed_feedback ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// What issue 11 found: a notification JSON-encoded once more as a string was dropped as "plain text", garbage was
/// acknowledged, soft bounces arriving out of order never reached the threshold, and an Undetermined bounce without
/// recipients left no trace.
#[tokio::test]
async fn odd_feedback_is_decoded_dead_lettered_or_kept_never_dropped() {
    let world = World::new().await;
    let pool = mail_database(&world, "mail").await;
    let handler = plain(&pool);
    let topic = world.topic("ses-feedback").to_owned();

    // Double-encoded, raw and inside an SNS envelope: decoded and decided.
    let hard = bounce(
        "Permanent",
        "d1",
        "2026-02-01T00:00:00Z",
        &["double@example.com"],
    );
    let once = serde_json::to_string(&hard).unwrap();
    assert_eq!(handler.handle(&incoming(&once)).await, Outcome::Done);
    let hard2 = bounce(
        "Permanent",
        "d2",
        "2026-02-01T00:00:00Z",
        &["double2@example.com"],
    );
    let enveloped = json!({"Type": "Notification", "MessageId": "7", "TopicArn": topic,
                           "Message": serde_json::to_string(&hard2).unwrap()});
    assert_eq!(
        handler.handle(&incoming(&enveloped.to_string())).await,
        Outcome::Done
    );
    assert_eq!(
        suppressions(&pool).await,
        pairs(&[
            ("double2@example.com", "bounce"),
            ("double@example.com", "bounce")
        ])
    );

    // Not JSON and not SES's documented text: rejected (the DLQ after maxReceiveCount), nothing acknowledged.
    for body in [
        "garbage",
        "\u{1}\u{2}binary",
        "<html>502 Bad Gateway</html>",
        "\"not a notification\"",
    ] {
        assert!(
            matches!(
                handler.handle(&incoming(body)).await,
                Outcome::Reject { .. }
            ),
            "{body:?}"
        );
    }

    // Soft bounces on days 5, 1, 3 (SQS does not keep order): the third to arrive suppresses.
    for (id, day) in [("o5", "05"), ("o1", "01"), ("o3", "03")] {
        let body = bounce(
            "Transient",
            id,
            &format!("2026-03-{day}T00:00:00Z"),
            &["late@example.com"],
        );
        assert_eq!(handler.handle(&incoming(&body)).await, Outcome::Done);
    }
    let late: Vec<(String,)> = sqlx::query_as(
        "SELECT decision FROM feedback_decisions WHERE address = 'late@example.com' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        late.into_iter().map(|(d,)| d).collect::<Vec<_>>(),
        ["counted", "counted", "suppressed"]
    );
    assert!(
        suppressions(&pool)
            .await
            .contains(&("late@example.com".to_owned(), "soft_bounces".to_owned()))
    );

    // An Undetermined bounce that names no recipient, and a recipient that is not an address: kept, once.
    let nobody = bounce("Undetermined", "u0", "2026-02-01T00:00:00Z", &[]);
    let unreadable = bounce(
        "Permanent",
        "p0",
        "2026-02-01T00:00:00Z",
        &["not an address"],
    );
    for body in [&nobody, &nobody, &unreadable, &unreadable] {
        assert_eq!(handler.handle(&incoming(body)).await, Outcome::Done);
    }
    assert_eq!(
        unattributed(&pool).await,
        [
            (
                "m-u0/u0".to_owned(),
                String::new(),
                "Undetermined".to_owned()
            ),
            (
                "m-p0/p0".to_owned(),
                "not an address".to_owned(),
                "Permanent".to_owned()
            ),
        ]
    );
    world.finish().await;
}

/// Records the addresses put on the "SES account list"; fails every call when `fail`.
#[derive(Clone, Default)]
struct FakeAccountList {
    calls: Arc<Mutex<Vec<(String, SuppressionReason)>>>,
    fail: bool,
}

impl AccountSuppressionList for FakeAccountList {
    fn put<'a>(
        &'a self,
        address: &'a EmailAddress,
        reason: SuppressionReason,
    ) -> BoxFuture<'a, Result<(), SyncError>> {
        Box::pin(async move {
            if self.fail {
                return Err(SyncError {
                    operation: "PutSuppressedDestination",
                    address: address.to_string(),
                    message: "TooManyRequestsException".into(),
                });
            }
            self.calls
                .lock()
                .unwrap()
                .push((address.to_string(), reason));
            Ok(())
        })
    }

    fn remove<'a>(&'a self, _: &'a EmailAddress) -> BoxFuture<'a, Result<(), SyncError>> {
        Box::pin(async { panic!("the suppressor never removes from the account list") })
    }
}

#[tokio::test]
async fn new_suppressions_are_mirrored_to_the_ses_account_list_when_enabled() {
    let world = World::new().await;
    let pool = mail_database(&world, "mail").await;
    let settings = Settings {
        account_suppression: true,
        ..Settings::default()
    };
    let failing = Suppressor::new(
        pool.clone(),
        settings.clone(),
        Some(FakeAccountList {
            fail: true,
            ..Default::default()
        }),
    );
    let body = ses_fixture("complaint.json");
    assert!(matches!(
        failing.handle(&incoming(&body)).await,
        Outcome::Retry { .. }
    ));
    assert!(
        decisions(&pool).await.is_empty(),
        "a failed SES call commits nothing"
    );

    let account = FakeAccountList::default();
    let handler = Suppressor::new(pool.clone(), settings, Some(account.clone()));
    assert_eq!(handler.handle(&incoming(&body)).await, Outcome::Done);
    assert_eq!(handler.handle(&incoming(&body)).await, Outcome::Done);
    let synced: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT ses_synced_at FROM suppressions WHERE address = 'richard@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(synced.is_some());
    // Only the first delivery put it on the list.
    assert_eq!(
        *account.calls.lock().unwrap(),
        vec![(
            "richard@example.com".to_owned(),
            SuppressionReason::Complaint
        )]
    );
    world.finish().await;
}

#[tokio::test]
async fn the_worker_suppresses_from_its_queue_and_dead_letters_malformed_feedback() {
    let bin = workspace_bin("ses-suppressor");
    let world = World::new().await;
    let pool = mail_database(&world, "mail").await;
    let env = worker_env(&world, "ses-suppressor", "mail");
    let mut worker = spawn(&bin, &env, &[]);
    let queue = world.queue("ses-suppressor").to_owned();

    // Malformed first, then good feedback straight to the queue and through the topic (raw delivery).
    for body in [
        r#"{"notificationType":"Bounce","bounce":"#.to_owned(),
        "not JSON, not SES's plain text".to_owned(),
        ses_fixture("bounce-permanent.json"),
    ] {
        world
            .sqs
            .send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    world
        .sns
        .publish()
        .topic_arn(world.topic("ses-feedback"))
        .message(ses_fixture("complaint.json"))
        .send()
        .await
        .unwrap();

    eventually(
        "jane and richard suppressed",
        Duration::from_secs(30),
        || async {
            let s = suppressions(&pool).await;
            (s == pairs(&[
                ("jane@example.com", "bounce"),
                ("richard@example.com", "complaint"),
            ]))
            .then_some(())
        },
    )
    .await;
    let dlq = world.dlq("ses-suppressor").to_owned();
    eventually(
        "both malformed messages in the DLQ",
        Duration::from_secs(60),
        || async { (world.depth(&dlq).await == 2).then_some(()) },
    )
    .await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker must keep running"
    );

    // Still going: another piece of feedback after the poison message left.
    world
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body(bounce(
            "Permanent",
            "later",
            "2026-01-01T00:00:00Z",
            &["later@example.com"],
        ))
        .send()
        .await
        .unwrap();
    eventually("later@ suppressed", Duration::from_secs(30), || async {
        suppressions(&pool)
            .await
            .iter()
            .any(|(a, _)| a == "later@example.com")
            .then_some(())
    })
    .await;
    // Deleted after the commit (the runtime batches deletes): wait for it rather than race it.
    eventually("the queue drained", Duration::from_secs(30), || async {
        (world.depth(&queue).await == 0).then_some(())
    })
    .await;
    assert!(worker.try_wait().unwrap().is_none());
    worker.start_kill().unwrap();
    worker.wait().await.unwrap();
    world.finish().await;
}
