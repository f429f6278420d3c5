//! Sublist benchmarks: matching (shared-cache hit, miss, via `*`, via `>`, local cache
//! hit, no cache) and insert+remove cost, with 10k and 100k subscriptions.
//!
//! Subscription set for `n` subscriptions (item = index):
//! - 80 % literal:        `lit.<i>.x`
//! - 10 % partial wildcard: `star.*.<j>`
//! - 10 % full wildcard:    `fwc.<j>.>`
//!
//! Cache-miss benches cycle through `MISS_SET` (65 536) distinct precomputed subjects,
//! 16x the shared cache capacity (4096). A subject comes back only after 65 535 other
//! misses, during which the cache has been refilled and had a random quarter evicted
//! ~60 times (each entry's survival chance is about 0.75^60), so every iteration is a
//! genuine miss: trie walk under the read lock plus cache insert (and amortised
//! eviction).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tracebus::sublist::{LocalMatchCache, Sublist, DEFAULT_CACHE_CAPACITY};

const SIZES: [usize; 2] = [10_000, 100_000];
const MISS_SET: usize = 65_536;

fn build(n: usize, cache_capacity: usize) -> Sublist<u32> {
    let sl = Sublist::with_cache_capacity(cache_capacity);
    let lit = n * 8 / 10;
    let wc = (n - lit) / 2;
    for i in 0..lit {
        sl.insert(format!("lit.{i}.x").as_bytes(), None, i as u32)
            .unwrap();
    }
    for j in 0..wc {
        sl.insert(format!("star.*.{j}").as_bytes(), None, (lit + j) as u32)
            .unwrap();
        sl.insert(format!("fwc.{j}.>").as_bytes(), None, (lit + wc + j) as u32)
            .unwrap();
    }
    assert_eq!(sl.count(), lit + 2 * wc);
    sl
}

/// Cycles through precomputed subjects; `next` costs an index increment.
struct Cycle {
    subjects: Vec<Box<[u8]>>,
    at: usize,
}

impl Cycle {
    fn new(f: impl Fn(usize) -> String) -> Self {
        Cycle {
            subjects: (0..MISS_SET).map(|i| f(i).into_bytes().into()).collect(),
            at: 0,
        }
    }

    #[inline]
    fn next(&mut self) -> &[u8] {
        self.at = (self.at + 1) & (MISS_SET - 1);
        &self.subjects[self.at]
    }
}

fn bench_match(c: &mut Criterion) {
    for n in SIZES {
        let wc = n / 10;
        let sl = build(n, DEFAULT_CACHE_CAPACITY);
        let mut g = c.benchmark_group(format!("sublist_match/{n}"));

        // Same subject every iteration: a shared-cache hit (read lock + Arc clone).
        let hit = b"lit.42.x";
        assert_eq!(sl.matches(hit).plain.len(), 1);
        g.bench_function("literal_hit", |b| b.iter(|| sl.matches(black_box(hit))));

        // Same subject matched via `*` and via `>`: also cache hits after the first.
        g.bench_function("star_hit", |b| {
            b.iter(|| sl.matches(black_box(b"star.abc.7")))
        });

        // Distinct literal subjects: misses; a fraction (all for 100k) have interest.
        let mut lits = Cycle::new(|i| format!("lit.{}.x", i % (n * 8 / 10)));
        g.bench_function("literal_miss", |b| b.iter(|| sl.matches(lits.next())));

        // Misses whose only match is a `*` filter (walks pwc).
        let mut stars = Cycle::new(|i| format!("star.s{i}.{}", i % wc));
        assert_eq!(sl.matches(stars.next()).plain.len(), 1);
        g.bench_function("star_miss", |b| b.iter(|| sl.matches(stars.next())));

        // Misses whose only match is a `>` filter (walks fwc, 4 tokens).
        let mut fwcs = Cycle::new(|i| format!("fwc.{}.f{i}.z", i % wc));
        assert_eq!(sl.matches(fwcs.next()).plain.len(), 1);
        g.bench_function("fwc_miss", |b| b.iter(|| sl.matches(fwcs.next())));

        // Per-connection cache hit: no lock, no allocation.
        let mut local = LocalMatchCache::new(128);
        local.get(&sl, hit);
        g.bench_function("local_hit", |b| b.iter(|| local.get(&sl, black_box(hit))));
        g.finish();

        // Pure trie walk, shared cache disabled.
        let nocache = build(n, 0);
        let mut g = c.benchmark_group(format!("sublist_nocache/{n}"));
        g.bench_function("literal", |b| b.iter(|| nocache.matches(black_box(hit))));
        g.bench_function("star", |b| {
            b.iter(|| nocache.matches(black_box(b"star.abc.7")))
        });
        g.bench_function("fwc", |b| {
            b.iter(|| nocache.matches(black_box(b"fwc.7.abc.z")))
        });
        g.finish();
    }
}

fn bench_insert_remove(c: &mut Criterion) {
    let mut g = c.benchmark_group("sublist_insert_remove");
    for n in SIZES {
        let sl = build(n, DEFAULT_CACHE_CAPACITY);
        // Fill the shared cache with subjects the benched filters do not match, so a
        // wildcard change has to scan a full cache without emptying it.
        for i in 0..DEFAULT_CACHE_CAPACITY {
            sl.matches(format!("lit.{i}.x").as_bytes());
        }
        let item = u32::MAX;
        g.bench_with_input(BenchmarkId::new("literal", n), &n, |b, _| {
            b.iter(|| {
                sl.insert(b"new.literal.subject", None, item).unwrap();
                sl.remove(b"new.literal.subject", None, &item).unwrap();
            })
        });
        g.bench_with_input(BenchmarkId::new("queue", n), &n, |b, _| {
            b.iter(|| {
                sl.insert(b"lit.5.x", Some(b"workers"), item).unwrap();
                sl.remove(b"lit.5.x", Some(b"workers"), &item).unwrap();
            })
        });
        // Wildcard filter: precise invalidation scans all 4096 cached subjects.
        g.bench_with_input(BenchmarkId::new("wildcard_full_cache", n), &n, |b, _| {
            b.iter(|| {
                sl.insert(b"trace.app.*.*.funclog", None, item).unwrap();
                sl.remove(b"trace.app.*.*.funclog", None, &item).unwrap();
            })
        });
        // Many distinct new subscriptions (as when clients connect), then removal.
        g.bench_with_input(BenchmarkId::new("batch_1000_literal", n), &n, |b, _| {
            let subjects: Vec<String> = (0..1000).map(|i| format!("inbox.{i}.r")).collect();
            b.iter(|| {
                for s in &subjects {
                    sl.insert(s.as_bytes(), None, item).unwrap();
                }
                for s in &subjects {
                    sl.remove(s.as_bytes(), None, &item).unwrap();
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    targets = bench_match, bench_insert_remove
}
criterion_main!(benches);
