//! Property tests: the sublist trie (with its shared and local caches) must agree with a
//! naive matcher that checks every stored (filter, queue, item) with `subject_matches`,
//! across random interleavings of inserts, removes and matches.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tracebus::subject::{is_valid_literal_subject, is_valid_subject, subject_matches};
use tracebus::sublist::{LocalMatchCache, MatchResult, Sublist, SublistError};

type Item = u8;

/// The reference model: a set of subscriptions, checked one by one.
#[derive(Default)]
struct Naive {
    subs: Vec<(String, Option<String>, Item)>,
}

/// Canonical form of a match result: sorted plain multiset and, per queue name, the
/// sorted member multiset.
type Canon = (Vec<Item>, Vec<(Vec<u8>, Vec<Item>)>);

impl Naive {
    fn position(&self, f: &str, q: &Option<String>, i: Item) -> Option<usize> {
        self.subs
            .iter()
            .position(|(sf, sq, si)| sf == f && sq == q && *si == i)
    }

    fn matches(&self, subject: &str) -> Canon {
        let mut plain = Vec::new();
        let mut groups: BTreeMap<Vec<u8>, Vec<Item>> = BTreeMap::new();
        for (f, q, i) in &self.subs {
            if subject_matches(f.as_bytes(), subject.as_bytes()) {
                match q {
                    None => plain.push(*i),
                    Some(q) => groups.entry(q.as_bytes().to_vec()).or_default().push(*i),
                }
            }
        }
        plain.sort_unstable();
        let queues = groups
            .into_iter()
            .map(|(name, mut m)| {
                m.sort_unstable();
                (name, m)
            })
            .collect();
        (plain, queues)
    }
}

fn canon(r: &MatchResult<Item>) -> Canon {
    let mut plain = r.plain.clone();
    plain.sort_unstable();
    let mut queues: Vec<(Vec<u8>, Vec<Item>)> = r
        .queues
        .iter()
        .map(|g| {
            assert!(!g.members.is_empty(), "empty queue group returned");
            let mut m = g.members.clone();
            m.sort_unstable();
            (g.name.to_vec(), m)
        })
        .collect();
    let before = queues.len();
    queues.sort();
    queues.dedup_by(|a, b| a.0 == b.0);
    assert_eq!(before, queues.len(), "queue group names must be distinct");
    assert_eq!(r.is_empty(), plain.is_empty() && queues.is_empty());
    (plain, queues)
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, Option<String>, Item),
    /// Remove the n-th stored subscription (modulo the count), if any.
    RemoveExisting(usize),
    /// Remove an arbitrary subscription, usually absent (must be NotFound then).
    RemoveRandom(String, Option<String>, Item),
    Match(String),
}

/// Filters: 1-4 tokens from a small alphabet so that overlaps are frequent; `>` only last.
fn filter() -> impl Strategy<Value = String> {
    let mid = prop::sample::select(vec!["a", "b", "c", "*"]);
    let last = prop::sample::select(vec!["a", "b", "c", "*", ">"]);
    (prop::collection::vec(mid, 0..=3), last).prop_map(|(mut toks, last)| {
        toks.push(last);
        toks.join(".")
    })
}

/// Literal subjects: 1-5 tokens (one longer than filters, so `>` gets exercised deep).
fn subject() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "d"]), 1..=5)
        .prop_map(|t| t.join("."))
}

fn queue() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.35,
        prop::sample::select(vec!["q1", "q2"]).prop_map(String::from),
    )
}

fn item() -> impl Strategy<Value = Item> {
    0u8..6
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (filter(), queue(), item()).prop_map(|(f, q, i)| Op::Insert(f, q, i)),
        2 => any::<usize>().prop_map(Op::RemoveExisting),
        1 => (filter(), queue(), item()).prop_map(|(f, q, i)| Op::RemoveRandom(f, q, i)),
        3 => subject().prop_map(Op::Match),
    ]
}

fn check_all(
    sl: &Sublist<Item>,
    local: &mut LocalMatchCache<Item>,
    naive: &Naive,
    probes: &[String],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(sl.count(), naive.subs.len());
    for s in probes {
        let want = naive.matches(s);
        prop_assert_eq!(
            canon(&sl.matches(s.as_bytes())),
            want.clone(),
            "shared, subject {}",
            s
        );
        prop_assert_eq!(
            canon(&local.get(sl, s.as_bytes())),
            want,
            "local, subject {}",
            s
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A fresh random subscription set matches exactly like the naive matcher.
    #[test]
    fn matches_agree_with_naive(
        subs in prop::collection::vec((filter(), queue(), item()), 0..40),
        subjects in prop::collection::vec(subject(), 1..20),
    ) {
        let sl = Sublist::new();
        let mut naive = Naive::default();
        for (f, q, i) in subs {
            prop_assert!(is_valid_subject(f.as_bytes()));
            sl.insert(f.as_bytes(), q.as_deref().map(str::as_bytes), i).unwrap();
            if naive.position(&f, &q, i).is_none() {
                naive.subs.push((f, q, i));
            }
        }
        prop_assert_eq!(sl.count(), naive.subs.len());
        for s in &subjects {
            prop_assert!(is_valid_literal_subject(s.as_bytes()));
            let want = naive.matches(s);
            // Twice: the second answer comes from the shared cache.
            prop_assert_eq!(canon(&sl.matches(s.as_bytes())), want.clone());
            prop_assert_eq!(canon(&sl.matches(s.as_bytes())), want);
        }
    }

    /// Interleaved inserts, removes and matches: results (shared cache, local cache)
    /// stay equal to the naive matcher after every change, so no stale cache entry
    /// survives an insert or remove. Small cache capacities exercise eviction too.
    #[test]
    fn interleaved_changes_keep_caches_correct(
        initial in prop::collection::vec((filter(), queue(), item()), 0..20),
        ops in prop::collection::vec(op(), 1..60),
        probes in prop::collection::vec(subject(), 1..12),
        shared_cap in prop::sample::select(vec![0usize, 1, 3, 4096]),
        local_cap in prop::sample::select(vec![0usize, 1, 4, 64]),
    ) {
        let sl = Sublist::with_cache_capacity(shared_cap);
        let mut local = LocalMatchCache::new(local_cap);
        let mut naive = Naive::default();
        for (f, q, i) in initial {
            sl.insert(f.as_bytes(), q.as_deref().map(str::as_bytes), i).unwrap();
            if naive.position(&f, &q, i).is_none() {
                naive.subs.push((f, q, i));
            }
        }
        // Warm both caches so the changes below have something to invalidate.
        check_all(&sl, &mut local, &naive, &probes)?;
        for op in ops {
            let gen_before = sl.generation();
            match op {
                Op::Insert(f, q, i) => {
                    sl.insert(f.as_bytes(), q.as_deref().map(str::as_bytes), i).unwrap();
                    if naive.position(&f, &q, i).is_none() {
                        naive.subs.push((f, q, i));
                        prop_assert!(sl.generation() > gen_before);
                    } else {
                        prop_assert_eq!(sl.generation(), gen_before, "duplicate insert");
                    }
                }
                Op::RemoveExisting(n) => {
                    if !naive.subs.is_empty() {
                        let (f, q, i) = naive.subs.swap_remove(n % naive.subs.len());
                        prop_assert_eq!(
                            sl.remove(f.as_bytes(), q.as_deref().map(str::as_bytes), &i),
                            Ok(())
                        );
                        prop_assert!(sl.generation() > gen_before);
                        // Removing it again must fail.
                        prop_assert_eq!(
                            sl.remove(f.as_bytes(), q.as_deref().map(str::as_bytes), &i),
                            Err(SublistError::NotFound)
                        );
                    }
                }
                Op::RemoveRandom(f, q, i) => {
                    let got = sl.remove(f.as_bytes(), q.as_deref().map(str::as_bytes), &i);
                    match naive.position(&f, &q, i) {
                        Some(p) => {
                            prop_assert_eq!(got, Ok(()));
                            naive.subs.swap_remove(p);
                        }
                        None => {
                            prop_assert_eq!(got, Err(SublistError::NotFound));
                            prop_assert_eq!(sl.generation(), gen_before);
                        }
                    }
                }
                Op::Match(s) => {
                    let want = naive.matches(&s);
                    prop_assert_eq!(canon(&sl.matches(s.as_bytes())), want.clone());
                    prop_assert_eq!(canon(&local.get(&sl, s.as_bytes())), want);
                }
            }
            check_all(&sl, &mut local, &naive, &probes)?;
        }
        // Draining everything leaves nothing matching.
        for (f, q, i) in std::mem::take(&mut naive.subs) {
            prop_assert_eq!(sl.remove(f.as_bytes(), q.as_deref().map(str::as_bytes), &i), Ok(()));
        }
        prop_assert_eq!(sl.count(), 0);
        for s in &probes {
            prop_assert!(sl.matches(s.as_bytes()).is_empty());
            prop_assert!(local.get(&sl, s.as_bytes()).is_empty());
        }
    }

    /// Two local caches with different capacities and the shared `matches` agree at
    /// every step, while subscriptions churn between lookups.
    #[test]
    fn local_cache_equals_shared(
        steps in prop::collection::vec(
            (prop::option::of((filter(), queue(), item(), any::<bool>())), subject()),
            1..80,
        ),
    ) {
        let sl = Sublist::new();
        let mut small = LocalMatchCache::new(2);
        let mut big = LocalMatchCache::new(1024);
        for (change, s) in steps {
            if let Some((f, q, i, add)) = change {
                let q = q.as_deref().map(str::as_bytes);
                if add {
                    sl.insert(f.as_bytes(), q, i).unwrap();
                } else {
                    let _ = sl.remove(f.as_bytes(), q, &i);
                }
            }
            let shared = canon(&sl.matches(s.as_bytes()));
            prop_assert_eq!(canon(&small.get(&sl, s.as_bytes())), shared.clone());
            prop_assert_eq!(canon(&big.get(&sl, s.as_bytes())), shared.clone());
            // A repeated lookup is a hit and must still agree.
            prop_assert_eq!(canon(&big.get(&sl, s.as_bytes())), shared);
        }
    }

    /// The trie walk and `subject_matches` agree on a single filter, including the
    /// literal multi-character tokens containing `*`/`>`.
    #[test]
    fn single_filter_agrees(
        f in prop::collection::vec(prop::sample::select(vec!["a", "b", "*", "a*", ">b"]), 1..4)
            .prop_flat_map(|t| (Just(t), prop::bool::ANY))
            .prop_map(|(mut t, fwc)| { if fwc { t.push(">"); } t.join(".") }),
        s in prop::collection::vec(prop::sample::select(vec!["a", "b", "a*", ">b", "c"]), 1..6)
            .prop_map(|t| t.join(".")),
    ) {
        let sl = Sublist::new();
        sl.insert(f.as_bytes(), None, 7).unwrap();
        let got = !sl.matches(s.as_bytes()).is_empty();
        prop_assert_eq!(got, subject_matches(f.as_bytes(), s.as_bytes()), "{} ~ {}", f, s);
    }
}

/// Invalid filters and queue names are refused and leave the sublist untouched.
#[test]
fn invalid_inputs_are_refused() {
    let sl: Sublist<Item> = Sublist::new();
    for f in ["", "a..b", ".a", "a.", "a.>.b", "a b", ">.>", "a\tb"] {
        assert_eq!(
            sl.insert(f.as_bytes(), None, 1),
            Err(SublistError::InvalidSubject),
            "{f:?}"
        );
    }
    for q in ["", "q 1", "q\n"] {
        assert_eq!(
            sl.insert(b"a", Some(q.as_bytes()), 1),
            Err(SublistError::InvalidSubject),
            "{q:?}"
        );
    }
    assert_eq!(sl.count(), 0);
    assert_eq!(sl.generation(), 0);
}
