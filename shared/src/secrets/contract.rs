//! The operator-secrets port's contract: one suite every adapter must pass.

use super::{oauth_app, put_oauth_app, OAuthApp, OperatorSecrets};

/// Runs every case; `prefix` keeps runs against one shared emulator apart.
pub(crate) async fn run_all(secrets: &dyn OperatorSecrets, prefix: &str) {
    let name = format!("{prefix}/plain");
    assert_eq!(secrets.get(&name).await.expect("get"), None);
    secrets.put(&name, "first").await.expect("create");
    assert_eq!(
        secrets.get(&name).await.expect("get").as_deref(),
        Some("first")
    );
    secrets.put(&name, "second").await.expect("overwrite");
    assert_eq!(
        secrets.get(&name).await.expect("get").as_deref(),
        Some("second")
    );

    let provider = format!("{prefix}-vendor");
    let app = OAuthApp {
        client_id: "client-1".into(),
        client_secret: "s3cret".into(),
    };
    put_oauth_app(secrets, &provider, &app)
        .await
        .expect("put app");
    assert_eq!(
        oauth_app(secrets, &provider).await.expect("app"),
        Some(app.clone())
    );
    assert!(
        !format!("{app:?}").contains("s3cret"),
        "Debug shows the secret"
    );
}
