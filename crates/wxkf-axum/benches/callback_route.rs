//! Throughput of the callback POST route (verify + decrypt + parse + `success`) beside a trivial
//! axum route answering the same request, in the same run; the ratio is the figure to watch
//! (target ≥ 0.8 of the trivial route's throughput).
//!
//! Two groups: `callback_post_served` sends real HTTP/1.1 requests over loopback to
//! `axum::serve` (a kept-alive connection, client and server on one thread) — what a deployed
//! route sustains; `callback_post_oneshot` calls the router in process with
//! `tower::ServiceExt::oneshot`, which has no HTTP cost at all and so shows the route's own
//! work (crypto and parsing) as plainly as possible.
//!
//! A third group, `callback_post_metrics`, measures the callback route with and without a real
//! metrics recorder (metrics-exporter-prometheus's, with `describe_metrics` called, set for the
//! bench's thread, on which the current-thread runtime runs the route), served and oneshot, the
//! two variants side by side in the same run: the ratio is what counting `wxkf_callbacks_total`
//! costs (target: within 5%).

#![allow(missing_docs, clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::post;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tower::ServiceExt;
use wxkf_axum::{Callback, CallbackConfig, callback_router};
use wxkf_crypto::CallbackCrypto;

const EVENT: &str = "<xml><ToUserName><![CDATA[wwbenchcorp]]></ToUserName><CreateTime>1409659813</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token><OpenKfId><![CDATA[wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q]]></OpenKfId></xml>";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let crypto =
        CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wwbenchcorp").unwrap();
    let encrypt = crypto.encrypt(EVENT.as_bytes()).unwrap();
    let sig = crypto.sign("1409659813", "1372623149", &encrypt).to_hex();
    let uri = format!("/wxkf/callback?msg_signature={sig}&timestamp=1409659813&nonce=1372623149");
    let body = format!(
        "<xml><ToUserName><![CDATA[wwbenchcorp]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    );

    let callback: Router = callback_router(CallbackConfig::new(crypto), |cb: Callback| {
        std::hint::black_box(cb);
    });
    let trivial: Router = Router::new().route("/wxkf/callback", post(|| async { "success" }));

    // both answer 200 "success" to the same request
    for app in [&callback, &trivial] {
        let req = Request::post(&uri).body(Body::from(body.clone())).unwrap();
        let resp = rt.block_on(app.clone().oneshot(req)).unwrap();
        assert_eq!(resp.status(), 200);
    }

    let mut group = c.benchmark_group("callback_post_served");
    group.throughput(Throughput::Elements(1));
    let http = reqwest::Client::new();
    for (name, app) in [("trivial_route", &trivial), ("wxkf_callback_route", &callback)] {
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = rt.spawn(std::future::IntoFuture::into_future(axum::serve(listener, app.clone())));
        let url = format!("http://{addr}{uri}");
        let send = || async {
            let resp = http.post(&url).body(body.clone()).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap()
        };
        assert_eq!(&rt.block_on(send())[..], b"success");
        group.bench_function(name, |b| b.iter(|| rt.block_on(send())));
        server.abort();
    }
    group.finish();

    let mut group = c.benchmark_group("callback_post_oneshot");
    group.throughput(Throughput::Elements(1));
    for (name, app) in [("trivial_route", &trivial), ("wxkf_callback_route", &callback)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let req = Request::post(&uri).body(Body::from(body.clone())).unwrap();
                rt.block_on(app.clone().oneshot(req)).unwrap()
            })
        });
    }
    group.finish();

    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let rendered = prometheus.handle();
    metrics::with_local_recorder(&prometheus, wxkf_axum::describe_metrics);
    let mut group = c.benchmark_group("callback_post_metrics");
    group.throughput(Throughput::Elements(1));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn(std::future::IntoFuture::into_future(axum::serve(listener, callback.clone())));
    let url = format!("http://{addr}{uri}");
    let send = || async {
        let resp = http.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap()
    };
    // each pair measured back to back, so a change of the machine's load between them is short
    for metrics_on in [false, true] {
        let suffix = if metrics_on { "metrics_on" } else { "metrics_off" };
        let _local = metrics_on.then(|| metrics::set_default_local_recorder(&prometheus));
        group.bench_function(format!("served_{suffix}"), |b| b.iter(|| rt.block_on(send())));
    }
    for metrics_on in [false, true] {
        let suffix = if metrics_on { "metrics_on" } else { "metrics_off" };
        let _local = metrics_on.then(|| metrics::set_default_local_recorder(&prometheus));
        group.bench_function(format!("oneshot_{suffix}"), |b| {
            b.iter(|| {
                let req = Request::post(&uri).body(Body::from(body.clone())).unwrap();
                rt.block_on(callback.clone().oneshot(req)).unwrap()
            })
        });
    }
    server.abort();
    group.finish();
    // the recorder did count: every request of the metrics_on variants is an accepted sample
    let text = rendered.render();
    assert!(text.contains("# TYPE wxkf_callbacks_total counter"), "{text}");
    assert!(text.contains("wxkf_callbacks_total{result=\"accepted\"}"), "{text}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
