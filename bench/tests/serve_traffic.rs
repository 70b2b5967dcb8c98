//! The runner's traffic guarantees against a scripted server: the absolute schedule survives a
//! concurrency limit (waits show up as client queue time, freed slots never send early),
//! warm-ups open the connections the run reuses, `--duration` cycles the requests, and a
//! cancelled (Ctrl-C) run still returns what it gathered.

mod serve_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dyno_bench::arrival::{Traffic, schedule};
use dyno_bench::endpoint::Backend;
use dyno_bench::runner::{self, CANCELLED, RunConfig};
use serve_support::*;

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_keeps_the_absolute_schedule() {
    // Due every 50 ms; each request takes 120 ms; 2 slots. Requests queue, but none is ever
    // sent before its due time, and each wait is its queue time.
    let server = ScriptServer::start(|_, _| completion_stream(MS(60), MS(20), 4, 8)).await;
    let ep = endpoint(&server, Backend::OpenAi, Some(Duration::from_secs(5))).await;
    let n = 8;
    let config = RunConfig {
        max_concurrency: Some(2),
        num_requests: n,
        ..RunConfig::default()
    };
    let out = run_requests(&ep, &paced(20.0, n), &config).await;
    assert_eq!(out.outcomes.len(), n);
    let mut queued = 0;
    for (i, o) in out.outcomes.iter().enumerate() {
        assert!(o.success, "{:?}", o.error);
        let due = o.scheduled_offset.unwrap();
        assert!(
            (ms(due) - 50.0 * (i + 1) as f64).abs() < 1e-6,
            "due times are the schedule's"
        );
        assert!(
            o.send_offset + MS(1) >= due,
            "request {i} sent before its due time"
        );
        let lag = ms(o.send_offset) - ms(due) - ms(o.queue_time);
        assert!(
            (-0.5..10.0).contains(&lag),
            "request {i}: send lag {lag:.2} ms"
        );
        if o.queue_time > MS(5) {
            queued += 1;
        }
    }
    assert!(
        queued >= 4,
        "with 120 ms requests every 50 ms on 2 slots most requests queue"
    );
    // Never more than 2 requests in flight.
    let m =
        dyno_bench::metrics::serve::serve_metrics(&out.outcomes, out.duration, &Default::default());
    assert!(m.max_concurrent_requests <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_on_time() {
    let server = ScriptServer::start(|_, _| completion_stream(MS(30), MS(10), 3, 8)).await;
    let ep = endpoint(&server, Backend::OpenAi, None).await;
    let n = 20;
    let sched = schedule(
        &Traffic::Rate {
            rate: 100.0,
            burstiness: 1.0,
        },
        n,
        1,
        &[],
    )
    .unwrap();
    let config = RunConfig {
        num_requests: n,
        ..RunConfig::default()
    };
    let out = run_requests(&ep, &sched, &config).await;
    for o in &out.outcomes {
        let lag = ms(o.send_offset) - ms(o.scheduled_offset.unwrap());
        assert!((-0.5..10.0).contains(&lag), "send lag {lag:.2} ms");
        assert_eq!(o.queue_time, Duration::ZERO);
    }
    // The server saw the requests at their due times too.
    let seen = server.seen.lock().unwrap();
    let first = seen[0].at;
    for (s, o) in seen.iter().zip(&out.outcomes).skip(1) {
        let gap_server = s.at.duration_since(first).as_secs_f64();
        let gap_client = (o.send_offset - out.outcomes[0].send_offset).as_secs_f64();
        assert!((gap_server - gap_client).abs() < 0.010);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmups_open_the_connections_the_run_reuses() {
    let server = ScriptServer::start(|_, _| completion_stream(MS(20), MS(5), 2, 8)).await;
    let ep = endpoint(&server, Backend::OpenAi, None).await;
    let prepared = prepare(&ep, 12);
    let warm = runner::warm_up(&ep, &prepared[0], 4, "w-").await;
    assert_eq!(warm.iter().filter(|o| o.success).count(), 4);
    assert_eq!(server.connections.load(Ordering::Relaxed), 4);
    let config = RunConfig {
        max_concurrency: Some(4),
        num_requests: 12,
        ..RunConfig::default()
    };
    let out = runner::run(
        ep.clone(),
        prepared,
        &at_once(12),
        &config,
        std::future::pending(),
        &|_| {},
    )
    .await;
    assert!(out.outcomes.iter().all(|o| o.success));
    assert_eq!(
        server.connections.load(Ordering::Relaxed),
        4,
        "no new connection in the run"
    );
    assert!(
        out.outcomes
            .iter()
            .all(|o| o.http.unwrap().connect.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_cycles_the_requests_until_the_time_is_up() {
    let server = ScriptServer::start(|_, _| completion_stream(MS(10), MS(5), 2, 8)).await;
    let ep = endpoint(&server, Backend::OpenAi, None).await;
    let config = RunConfig {
        duration: Some(MS(500)),
        num_requests: 3,
        ..RunConfig::default()
    };
    let start = Instant::now();
    let out = run_requests(&ep, &paced(40.0, 3), &config).await;
    // Due at 25, 50, … ms: 19 before 500 ms (the 20th is due at exactly 500).
    assert_eq!(out.outcomes.len(), 19);
    assert!(start.elapsed() < MS(800));
    let ids: Vec<&str> = out
        .outcomes
        .iter()
        .take(4)
        .map(|o| o.request_id.as_str())
        .collect();
    assert_eq!(ids, ["r-0", "r-1", "r-2", "r-0"], "the dataset is cycled");
    assert!(!out.interrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_returns_what_was_gathered() {
    // Request 0 is quick; the others stream for 10 s. Cancel after 300 ms.
    let server = ScriptServer::start(|_, i| {
        if i == 0 {
            completion_stream(MS(10), MS(10), 2, 8)
        } else {
            completion_stream(MS(10), MS(1000), 10, 8)
        }
    })
    .await;
    let ep = endpoint(&server, Backend::OpenAi, None).await;
    let config = RunConfig {
        num_requests: 10,
        ..RunConfig::default()
    };
    let start = Instant::now();
    let cancel = tokio::time::sleep(MS(350));
    let out = runner::run(
        ep.clone(),
        prepare(&ep, 10),
        &paced(10.0, 10),
        &config,
        cancel,
        &|_| {},
    )
    .await;
    assert!(start.elapsed() < MS(1000), "the run stopped promptly");
    assert!(out.interrupted);
    // Due at 100, 200, 300 ms: three sent, seven never sent.
    assert_eq!((out.outcomes.len(), out.not_sent), (3, 7));
    assert!(out.outcomes[0].success);
    assert_eq!(out.outcomes[1].error.as_deref(), Some(CANCELLED));
}
