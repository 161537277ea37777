//! The connection hot paths: handing out a fresh access token (one store read, one open of a
//! sealed token under a cached data key), and taking then releasing a refresh lease.
//!
//! Run: `cargo bench -p hookrail --features testing --bench connections`

use criterion::{criterion_group, criterion_main, Criterion};
use hookrail::domain::connection::{Credentials, TokenSet};
use hookrail::domain::integration::Integration;
use hookrail::ids::{IntegrationId, TenantId};
use hookrail::repo::{credentials, integrations};
use hookrail::testing::embedded_services;

fn connections(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let services = runtime.block_on(embedded_services(dir.path()));
    let now = services.clock.now();
    let integration = Integration::new(
        IntegrationId::generate(),
        TenantId::generate(),
        "github",
        "bench",
        now,
    );
    runtime.block_on(async {
        integrations::insert(services.store.as_ref(), &integration)
            .await
            .expect("insert");
        let ctx = integrations::context(&integration);
        let tokens = TokenSet {
            access_token: services
                .sealer
                .seal_str(&ctx, "gho_bench")
                .await
                .expect("seal"),
            refresh_token: Some(
                services
                    .sealer
                    .seal_str(&ctx, "ghr_bench")
                    .await
                    .expect("seal"),
            ),
            token_type: "Bearer".into(),
            expires_at: Some(now + 365 * 86_400),
            refresh_token_expires_at: None,
            scopes: vec!["repo".into()],
            extras: serde_json::Map::new(),
        };
        let creds = Credentials::new(
            integration.tenant_id.clone(),
            integration.id.clone(),
            tokens,
            now,
            900,
        );
        credentials::put(services.store.as_ref(), &creds, None)
            .await
            .expect("store credentials");
    });
    c.bench_function("access_token_fresh_embedded", |b| {
        b.to_async(&runtime).iter(|| async {
            hookrail::oauth::refresh::access_token(&services, &integration, "bench")
                .await
                .expect("token")
        })
    });
    c.bench_function("refresh_lease_take_and_release_embedded", |b| {
        b.to_async(&runtime).iter(|| async {
            let store = services.store.as_ref();
            let lease = credentials::acquire_lease(store, &integration.id, "bench", now, 60)
                .await
                .expect("lease")
                .expect("free");
            credentials::release_lease(store, &lease)
                .await
                .expect("release");
        })
    });
}

criterion_group!(benches, connections);
criterion_main!(benches);
