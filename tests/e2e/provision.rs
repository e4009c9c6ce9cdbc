use aws_sdk_sqs::types::QueueAttributeName;
use switchyard_tests::World;
use yard::provision::Provisioner;

#[tokio::test]
async fn provisioning_twice_changes_nothing_and_repairs_drift() {
    let world = World::new().await;
    let provisioner = Provisioner {
        sns: &world.sns,
        sqs: &world.sqs,
        topology: &world.topology,
        env: &world.env,
    };
    let expected = world.topology.topics.len()
        + 2 * world.topology.queues.len()
        + world.topology.subscriptions.len();

    let again = provisioner.run().await.unwrap();
    assert!(
        !again.changed(),
        "second run changed: {:?} {:?}",
        again.created,
        again.updated
    );
    assert_eq!(again.unchanged.len(), expected, "{:?}", again.unchanged);

    // Drift: someone changed a queue by hand. The next run puts it back, the run after changes nothing.
    world
        .sqs
        .set_queue_attributes()
        .queue_url(world.queue("mailer"))
        .attributes(QueueAttributeName::VisibilityTimeout, "999")
        .send()
        .await
        .unwrap();
    let repaired = provisioner.run().await.unwrap();
    assert_eq!(repaired.updated.len(), 1, "{:?}", repaired.updated);
    assert!(
        repaired.updated[0].contains("VisibilityTimeout"),
        "{:?}",
        repaired.updated
    );
    assert!(!provisioner.run().await.unwrap().changed());
    world.finish().await;
}

#[tokio::test]
async fn queues_have_dlqs_and_accept_only_their_own_topics() {
    let world = World::new().await;
    for (key, queue) in &world.topology.queues {
        let attrs = world
            .sqs
            .get_queue_attributes()
            .queue_url(world.queue(key))
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attrs = attrs.attributes().unwrap();
        let redrive: serde_json::Value =
            serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
        assert_eq!(
            redrive["deadLetterTargetArn"],
            world.resources.dlq_arns[key].as_str()
        );
        assert_eq!(
            redrive["maxReceiveCount"].to_string().trim_matches('"'),
            queue.max_receive_count.to_string()
        );

        let policy = &attrs[&QueueAttributeName::Policy];
        let own: Vec<&str> = world
            .topology
            .subscriptions_of_queue(key)
            .map(|(_, s)| world.topic(&s.topic))
            .collect();
        for (topic_key, arn) in &world.resources.topic_arns {
            let subscribed = own.contains(&arn.as_str());
            assert_eq!(
                policy.contains(arn.as_str()),
                subscribed,
                "queue {key} policy vs topic {topic_key}: {policy}"
            );
        }
    }
    world.finish().await;
}
