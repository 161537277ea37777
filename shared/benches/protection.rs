//! What endpoint protection adds to every delivery attempt: reading the endpoint's health
//! (circuit breaker) and counting the attempt in its per-minute window, both in the state store.
//!
//! Run: `cargo bench -p hookrail --features testing --bench protection`

use criterion::{criterion_group, criterion_main, Criterion};
use hookrail::repo::endpoint_health;
use hookrail::testing::embedded_services;

fn protection(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let services = runtime.block_on(embedded_services(dir.path()));
    let now = services.clock.now();
    let endpoint = hookrail::testing::endpoint("https://hooks.example.com/bench", now);
    let key = format!("eprate#{}", endpoint.id);
    c.bench_function("endpoint_gate_embedded", |b| {
        b.to_async(&runtime).iter(|| async {
            let (health, _) = endpoint_health::get(services.store.as_ref(), &endpoint)
                .await
                .expect("health");
            let counted = hookrail::limits::count(services.store.as_ref(), &key, 100, now)
                .await
                .expect("count");
            (health.health.admit(now), counted.slot())
        });
    });
}

criterion_group!(benches, protection);
criterion_main!(benches);
