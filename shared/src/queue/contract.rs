//! The queue port's contract: one suite every adapter must pass.

use std::time::Duration;

use super::{JobQueue, QueueError};

const SHORT: Duration = Duration::from_secs(1);

/// Runs every contract case on an empty queue whose dead letters land in `dead`.
pub(crate) async fn run_all(queue: &dyn JobQueue, dead: &dyn JobQueue, max_receives: u32) {
    sends_receives_and_deletes(queue).await;
    delayed_messages_wait_their_turn(queue).await;
    unacknowledged_messages_return_after_visibility(queue).await;
    messages_dead_letter_after_max_receives(queue, dead, max_receives).await;
    delays_beyond_the_limit_are_rejected(queue).await;
    dead_letters_redrive_to_their_source(queue, dead).await;
}

async fn dead_letters_redrive_to_their_source(queue: &dyn JobQueue, dead: &dyn JobQueue) {
    let before = dead.depth().await.expect("depth");
    for n in 0..3 {
        dead.send(&format!("dead {n}"), Duration::ZERO)
            .await
            .expect("send");
    }
    assert_eq!(
        dead.depth().await.expect("depth"),
        before + 3,
        "operators count dead letters"
    );
    assert_eq!(super::redrive(dead, queue, 100).await.expect("redrive"), 3);
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let message = receive_one(queue, Duration::from_secs(30))
            .await
            .expect("redriven");
        bodies.push(message.body.clone());
        queue.delete(&message.receipt).await.expect("delete");
    }
    bodies.sort();
    assert_eq!(bodies, ["dead 0", "dead 1", "dead 2"]);
    assert_eq!(super::redrive(dead, queue, 100).await.expect("empty"), 0);
}

async fn receive_one(queue: &dyn JobQueue, visibility: Duration) -> Option<super::QueueMessage> {
    let got = queue
        .receive(1, visibility, Duration::from_secs(2))
        .await
        .expect("receive");
    got.into_iter().next()
}

async fn sends_receives_and_deletes(queue: &dyn JobQueue) {
    queue.send("hello", Duration::ZERO).await.expect("send");
    let message = receive_one(queue, Duration::from_secs(30))
        .await
        .expect("a message");
    assert_eq!(message.body, "hello");
    assert_eq!(message.receive_count, 1);
    queue.delete(&message.receipt).await.expect("delete");
    let again = queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("receive");
    assert!(again.is_empty(), "deleted message came back: {again:?}");
}

async fn delayed_messages_wait_their_turn(queue: &dyn JobQueue) {
    queue.send("later", SHORT).await.expect("send delayed");
    let early = queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("receive");
    assert!(early.is_empty(), "delayed message was visible at once");
    tokio::time::sleep(SHORT + Duration::from_millis(200)).await;
    let message = receive_one(queue, Duration::from_secs(30))
        .await
        .expect("delayed message after its delay");
    assert_eq!(message.body, "later");
    queue.delete(&message.receipt).await.expect("delete");
}

async fn unacknowledged_messages_return_after_visibility(queue: &dyn JobQueue) {
    queue.send("retry me", Duration::ZERO).await.expect("send");
    let first = receive_one(queue, SHORT).await.expect("first receive");
    let hidden = queue
        .receive(10, SHORT, Duration::ZERO)
        .await
        .expect("receive");
    assert!(hidden.is_empty(), "message visible while leased");
    tokio::time::sleep(SHORT + Duration::from_millis(200)).await;
    let second = receive_one(queue, Duration::from_secs(30))
        .await
        .expect("message came back");
    assert_eq!(second.id, first.id);
    assert_eq!(second.receive_count, 2);
    queue.delete(&second.receipt).await.expect("delete");
}

async fn messages_dead_letter_after_max_receives(
    queue: &dyn JobQueue,
    dead: &dyn JobQueue,
    max_receives: u32,
) {
    queue.send("poison", Duration::ZERO).await.expect("send");
    for attempt in 1..=max_receives {
        let message = receive_one(queue, SHORT)
            .await
            .unwrap_or_else(|| panic!("receive {attempt}"));
        assert_eq!(message.receive_count, attempt);
        tokio::time::sleep(SHORT + Duration::from_millis(200)).await;
    }
    let after = queue
        .receive(10, SHORT, Duration::from_millis(500))
        .await
        .expect("receive");
    assert!(after.is_empty(), "message outlived max receives: {after:?}");
    let dead_letter = receive_one(dead, Duration::from_secs(30))
        .await
        .expect("message in the dead-letter queue");
    assert_eq!(dead_letter.body, "poison");
    dead.delete(&dead_letter.receipt).await.expect("delete");
}

async fn delays_beyond_the_limit_are_rejected(queue: &dyn JobQueue) {
    let result = queue.send("too late", Duration::from_secs(901)).await;
    assert!(matches!(result, Err(QueueError::Rejected(_))));
}
