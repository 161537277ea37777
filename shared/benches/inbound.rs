//! The receipt's hot path: signature verification alone, and a whole receipt (look up, open the
//! cached secret, verify, one atomic write, one enqueue) on the embedded backend.
//!
//! Run: `cargo bench -p hookrail --features testing --bench inbound`

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hookrail::ids::IntegrationId;
use hookrail::testing::{embedded_services, github_signed_headers, integration_with_secret};
use hookrail::verify::{scheme_for, InboundRequest};

const SECRET: &str = "It's a Secret to Everybody";

fn verify(c: &mut Criterion) {
    let scheme = scheme_for("github", &serde_json::json!({})).expect("scheme");
    let mut group = c.benchmark_group("verify_github");
    for size in [1024usize, 64 * 1024] {
        let body = vec![b'x'; size];
        let headers = github_signed_headers(SECRET, &body, "d");
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                let request = InboundRequest {
                    headers: &headers,
                    body,
                    now_unix: 0,
                };
                scheme.verify(&request, SECRET).expect("valid");
            })
        });
    }
    group.finish();
}

fn receipt(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let services = runtime.block_on(embedded_services(dir.path()));
    let integration = runtime.block_on(integration_with_secret(
        &services,
        IntegrationId::generate(),
        "github",
        SECRET,
    ));
    let body = br#"{"ref":"refs/heads/main","commits":[{"id":"1","message":"bench"}]}"#.to_vec();
    let deliveries = AtomicU64::new(0);
    c.bench_function("receipt_embedded_github", |b| {
        b.to_async(&runtime).iter(|| {
            let delivery = deliveries.fetch_add(1, Ordering::Relaxed).to_string();
            let headers = github_signed_headers(SECRET, &body, &delivery);
            let services = &services;
            let id = integration.id.as_str();
            let body = body.clone();
            async move {
                hookrail::inbound::receipt::receive(services, id, &headers, body)
                    .await
                    .expect("accepted")
            }
        })
    });
}

criterion_group!(benches, verify, receipt);
criterion_main!(benches);
