//! Throughput of the bot runtime end to end against the simulator: 1,000 customers of one Kf
//! account each write 5 messages at once to an echo bot; one iteration is the time until all 5,000
//! echoes were accepted by the simulator. The bot and the simulator share this process and its
//! cores. `cargo bench -p wxkf-sim --bench runtime`; figures in docs/benchmarks.md.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "load/mod.rs"]
mod load;

const CUSTOMERS: usize = 1_000;
const PER_CUSTOMER: usize = 5;

fn runtime(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let mut group = c.benchmark_group("runtime");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements((CUSTOMERS * PER_CUSTOMER) as u64));
    for (name, store) in [
        ("echo_1000x5_memory_store", load::Store::Memory),
        ("echo_1000x5_data_dir", load::Store::Dir(tempdir())),
    ] {
        let (sim, customers) = rt.block_on(load::start_sim(CUSTOMERS));
        let bot = rt.block_on(load::start_bot(&sim, &store, load::echo()));
        let mut round_no = 0;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round_no += 1;
                    total += rt
                        .block_on(load::round(
                            &sim,
                            &customers,
                            PER_CUSTOMER,
                            round_no,
                            Duration::from_secs(120),
                        ))
                        .expect("every message answered within 120 s");
                }
                total
            })
        });
        rt.block_on(bot.stop());
        sim.shutdown();
        if let load::Store::Dir(dir) = store {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    group.finish();
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wxkf-bench-runtime-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

criterion_group!(benches, runtime);
criterion_main!(benches);
