//! The receipt's hot path: signature verification alone, and a whole receipt (look up, open the
//! cached secret, verify, one atomic write, one enqueue) on the embedded backend.
//!
//! Run: `cargo bench -p hookrail --features testing --bench inbound`

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use hookrail::domain::integration::Integration;
use hookrail::ids::{IntegrationId, TenantId};
use hookrail::verify::{scheme_for, InboundRequest};
use sha2::Sha256;

const SECRET: &str = "It's a Secret to Everybody";

fn github_headers(body: &[u8], delivery: &str) -> http::HeaderMap {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    let mut headers = http::HeaderMap::new();
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    headers.insert("x-hub-signature-256", signature.parse().expect("header"));
    headers.insert("x-github-event", "push".parse().expect("header"));
    headers.insert("x-github-delivery", delivery.parse().expect("header"));
    headers
}

fn verify(c: &mut Criterion) {
    let scheme = scheme_for("github", &serde_json::json!({})).expect("scheme");
    let mut group = c.benchmark_group("verify_github");
    for size in [1024usize, 64 * 1024] {
        let body = vec![b'x'; size];
        let headers = github_headers(&body, "d");
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
    let services = runtime.block_on(hookrail::testing::embedded_services(dir.path()));
    let integration = Integration::new(
        IntegrationId::generate(),
        TenantId::generate(),
        "github",
        "bench",
        0,
    );
    let secrets = [("signing_secret".to_owned(), SECRET.to_owned())].into();
    let integration = runtime
        .block_on(hookrail::repo::integrations::create(
            services.store.as_ref(),
            &services.sealer,
            integration,
            &secrets,
        ))
        .expect("integration");
    let body = br#"{"ref":"refs/heads/main","commits":[{"id":"1","message":"bench"}]}"#.to_vec();
    let deliveries = AtomicU64::new(0);
    c.bench_function("receipt_embedded_github", |b| {
        b.to_async(&runtime).iter(|| {
            let delivery = deliveries.fetch_add(1, Ordering::Relaxed).to_string();
            let headers = github_headers(&body, &delivery);
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
